package org.xenfork.wire;

/** A subscriber's registration with an {@link EventDispatcher}; closing it stops delivery to it. Idempotent. */
public interface Subscription extends AutoCloseable {
    @Override
    void close();
}
