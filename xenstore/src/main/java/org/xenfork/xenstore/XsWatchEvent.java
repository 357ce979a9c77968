package org.xenfork.xenstore;

/**
 * An {@code XS_WATCH_EVENT}: {@code path} changed (it, or a node below the
 * watched path, was written, created or removed) and {@code token} names the
 * watch that matched. xenstored also sends one event for each watch right after
 * registering it, so a watcher can read the initial state without a race.
 */
public record XsWatchEvent(String path, String token) {
}
