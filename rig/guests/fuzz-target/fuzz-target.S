/* Fuzz target: a PVH guest like guests/tiny (32-bit flat, no paging, linked by tiny.ld), with a planted bug.
   Each round it busy-waits, signals a harness with CPUID leaf 0x13371337 (as KF/x's harnesses do), reads the
   first byte of its input buffer and reaches `crash` when that byte is 0x7a ('z', one input byte in 256), `done`
   otherwise. `xenfork fuzz PARENT --start-cpuid 0x13371337 --input INPUT:SIZE --done DONE --crash CRASH` stops
   it at the harness, forks it, and sets its breakpoints at `done` and `crash` in a fork; the guest itself never
   needs them. It prints "fuzz target ready" once to port 0xE9 (Xen's "(dN)" console), and nothing per round:
   the CPUID each round is its only exit, one every few tenths of a second. */
        .section .note.Xen, "a", @note
        .align 4
        .long 4, 4, 18              /* namesz, descsz, type = XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz "Xen"
        .long _start
        .text
        .code32
        .globl _start
_start:
        cld
        mov   $msg, %esi
1:      lodsb
        test  %al, %al
        jz    loop
        outb  %al, $0xe9
        jmp   1b
loop:
        mov   delay, %ecx
2:      dec   %ecx
        jnz   2b
harness:
        mov   $0x13371337, %eax
        xor   %ecx, %ecx
        cpuid
        movzbl input, %eax
        cmp   $0x7a, %al
        je    crash
done:
        incl  rounds
        jmp   loop
crash:
        incl  crashes
        jmp   loop
        .data
msg:    .asciz "fuzz target ready\n"
delay:  .long 100000000
rounds: .long 0
crashes: .long 0
        .align 4096
input:  .space 4096
