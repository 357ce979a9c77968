package org.xenfork.cli;

import picocli.CommandLine.IVersionProvider;

/** {@code xenfork --version}: the version Maven wrote into the jar's manifest. */
final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String v = XenforkCommand.class.getPackage().getImplementationVersion();
        return new String[] {"xenfork " + (v == null ? "(development build)" : v)};
    }
}
