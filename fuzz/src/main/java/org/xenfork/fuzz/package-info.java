/**
 * Fuzzing a VM through its forks, as KF/x does: a sink fork of a paused parent holds the done and
 * crash breakpoints, a fuzz fork of the sink runs one input per iteration and is reset after it
 * ({@link org.xenfork.fuzz.Fuzzer}); inputs come from a {@link org.xenfork.fuzz.Mutator} (the
 * {@link org.xenfork.fuzz.HavocMutator}, or the caller's own); {@link org.xenfork.fuzz.Campaign}
 * is the loop with its bounds and {@link org.xenfork.fuzz.Findings} the files it saves
 * (docs/FUZZ.md).
 */
package org.xenfork.fuzz;
