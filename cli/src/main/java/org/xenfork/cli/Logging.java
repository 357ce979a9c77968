package org.xenfork.cli;

/**
 * The command line's logging: the libraries log through {@code System.Logger},
 * which slf4j-jdk-platform-logging hands to SLF4J, which slf4j-simple prints on
 * stderr. Quiet by default (warnings only; Netty's errors only); {@code -v} shows what
 * xenfork does (info), {@code -vv} how (debug, Netty's too). {@code --trace} is separate: hypercalls only.
 */
final class Logging {
    private Logging() {
    }

    /**
     * Sets the level before the first logger exists. slf4j-simple reads it once per
     * JVM, so in-process runs after the first (tests, RigChecks) keep that level.
     */
    static void configure(int verbosity) {
        String level = verbosity <= 0 ? "warn" : verbosity == 1 ? "info" : "debug";
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", level);
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.setProperty("org.slf4j.simpleLogger.showThreadName", "false");
        System.setProperty("org.slf4j.simpleLogger.showShortLogName", "true");
        System.setProperty("org.slf4j.simpleLogger.showLogName", "false");
        System.setProperty("org.slf4j.simpleLogger.levelInBrackets", "true");
        // Netty's own start-up warnings (a dom0 without network interfaces, say) are not the user's business;
        // its errors still show, and -vv shows everything.
        System.setProperty("org.slf4j.simpleLogger.log.io.netty", verbosity >= 2 ? "debug" : "error");
    }
}
