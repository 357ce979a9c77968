package org.xenfork.fork;

import java.util.List;
import java.util.Optional;

/**
 * One thing done after a failed step to put things back, and how it ended: a
 * {@link ForkException} carries a list of them. Callers decide on these fields;
 * {@link #describe()} turns one into words for the message, and nothing reads
 * the words back.
 *
 * @param action  what was undone
 * @param id      the domain id, or QEMU's pid for {@link Action#KILL_DEVICE_MODEL}
 * @param paths   the xenstore keys or file it concerns (empty when none)
 * @param failure why it could not be done, or null when it was
 */
public record Undo(Action action, long id, List<String> paths, Exception failure) {

    /** What a rollback does, each with the words for done and for failed. */
    public enum Action {
        /** XEN_DOMCTL_destroydomain of a fork that failed before it was handed out. */
        DESTROY_HALF_MADE_FORK,
        /** XEN_DOMCTL_destroydomain of a made fork whose device model could not start. */
        DESTROY_FORK,
        /** Removing the name that {@link DomainNames#assign} wrote. */
        REMOVE_NAME,
        /** XEN_DOMCTL_unpausedomain of a parent that this workflow paused. */
        UNPAUSE_PARENT,
        /** Stopping the fork's QEMU (SIGTERM, then SIGKILL). */
        KILL_DEVICE_MODEL,
        /** Removing the xenstore keys written for the fork's device model. */
        REMOVE_DEVICE_MODEL_KEYS,
        /** Removing a partly written device-state file. */
        REMOVE_PARTIAL_FILE,
        /** Nothing undone on purpose: the domain is kept as it is (its device model could not be stopped first). */
        KEEP_DOMAIN,
        /** Nothing undone on purpose: the fork and its device model are kept, paused. */
        KEEP_PAUSED_FORK,
        /** Nothing undone on purpose: a stopped workflow leaves the parent paused (its forks need it so). */
        KEEP_PARENT_PAUSED
    }

    public Undo {
        paths = List.copyOf(paths);
    }

    public static Undo done(Action action, long id) {
        return new Undo(action, id, List.of(), null);
    }

    public static Undo done(Action action, long id, List<String> paths) {
        return new Undo(action, id, paths, null);
    }

    public static Undo failed(Action action, long id, List<String> paths, Exception why) {
        return new Undo(action, id, paths, why);
    }

    public boolean succeeded() {
        return failure == null;
    }

    public Optional<Exception> failureCause() {
        return Optional.ofNullable(failure);
    }

    /** The words for the message: what was done, or what failed and the command that finishes it. */
    public String describe() {
        String why = failure == null ? "" : " (" + failure.getMessage() + ")";
        String all = String.join(", ", paths);
        return switch (action) {
            case DESTROY_HALF_MADE_FORK -> succeeded() ? "destroyed the half-made fork " + id
                    : "could not destroy the half-made fork " + id + why + "; destroy it with: xenfork destroy " + id;
            case DESTROY_FORK -> succeeded() ? "fork " + id + " destroyed"
                    : "could not destroy fork " + id + why + "; destroy it with: xenfork destroy " + id;
            case REMOVE_NAME -> succeeded() ? "removed its name from xenstore"
                    : "could not remove its xenstore entries" + why;
            case UNPAUSE_PARENT -> succeeded() ? "unpaused parent " + id + " again"
                    : "could not unpause parent " + id + why + "; unpause it with: xenfork unpause " + id;
            case KILL_DEVICE_MODEL -> succeeded() ? "QEMU pid " + id + " killed"
                    : "could not stop QEMU pid " + id + why + "; kill it";
            case REMOVE_DEVICE_MODEL_KEYS -> succeeded() ? "its xenstore keys removed"
                    : "removing its xenstore keys failed" + why + ": run xenfork destroy " + id + " or remove " + all;
            case REMOVE_PARTIAL_FILE -> succeeded() ? "no file was left at " + all
                    : "a partial file may be left at " + all + why + "; remove it";
            case KEEP_DOMAIN -> "the domain was not destroyed";
            case KEEP_PAUSED_FORK -> "the fork and its device model are kept, paused: xenfork unpause " + id;
            case KEEP_PARENT_PAUSED -> "parent " + id + " stays paused (a parent must be, while it has forks; "
                    + "xenfork unpause " + id + " once they are destroyed)";
        };
    }
}
