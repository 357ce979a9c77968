package org.xenfork.qmp;

/** An event listener's registration; closing it stops delivery to that listener. Idempotent. */
public interface QmpSubscription extends AutoCloseable {
    @Override
    void close();
}
