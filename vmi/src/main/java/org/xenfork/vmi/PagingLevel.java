package org.xenfork.vmi;

/**
 * A level of an x86 page walk, named for its entry as the Intel SDM (vol. 3A, chapter 4
 * "Paging") names it. Which levels a walk has, and what each one covers, depends on the
 * {@link PagingMode}.
 */
public enum PagingLevel {
    /** Page-map level-5 entry: 5-level paging only; covers 256 TiB. */
    PML5E,
    /** Page-map level-4 entry: 4- and 5-level paging; covers 512 GiB. */
    PML4E,
    /** Page-directory-pointer-table entry: PAE (one of four, read at CR3), 4- and 5-level paging; 1 GiB. */
    PDPTE,
    /** Page-directory entry: every paging mode; 4 MiB in 32-bit paging, 2 MiB otherwise. */
    PDE,
    /** Page-table entry: every paging mode; always a 4 KiB page. */
    PTE
}
