package org.xenfork.vmi;

/**
 * A monitor could not be set up, refused a request, or failed while running: the message names the
 * domain, the step and what to do (for instance {@code xenfork monitor --cleanup DOMAIN}).
 */
public class MonitorException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public MonitorException(String message) {
        super(message);
    }

    public MonitorException(String message, Throwable cause) {
        super(message, cause);
    }
}
