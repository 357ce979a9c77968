package org.xenfork.fork;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Where domain names live: xenstore's {@code /local/domain/N/name} on a real host
 * ({@link XenstoreDomainNames}), the simulator's table under {@code --backend sim}.
 * Forks get names so that {@code xl list} shows them; a fork needs no name to run.
 */
public interface DomainNames {

    /**
     * Names xl and xenstore paths can both carry, and no command line mistakes for
     * an id or an option: a letter, then letters, digits, {@code . _ -}.
     */
    Pattern VALID = Pattern.compile("[A-Za-z][A-Za-z0-9._-]{0,63}");

    /** The domain's name, or empty if it has none. */
    Optional<String> name(int domid) throws IOException;

    /**
     * Gives a new domain its name, and whatever else a toolstack writes for it.
     *
     * @param pvh the domain is PVH (libxl's type {@code pvh}), else HVM
     */
    void assign(int domid, String name, boolean pvh) throws IOException;

    /** The named ones of these domains, by name (a name two domains share lists both, in order). */
    default Map<String, List<Integer>> byName(List<Integer> domids) throws IOException {
        Map<String, List<Integer>> m = new LinkedHashMap<>();
        for (int d : domids) {
            Optional<String> n = name(d);
            if (n.isPresent()) {
                m.computeIfAbsent(n.get(), k -> new ArrayList<>()).add(d);
            }
        }
        return m;
    }

    /** Removes what {@link #assign} wrote, after the domain is destroyed. Nothing there is not an error. */
    void remove(int domid) throws IOException;

    /** No name store: names read as absent, assigning one is refused. For forks nobody names. */
    DomainNames NONE = new DomainNames() {
        @Override
        public Optional<String> name(int domid) {
            return Optional.empty();
        }

        @Override
        public void assign(int domid, String name, boolean pvh) throws IOException {
            throw new IOException("no xenstore to hold the name '" + name + "'");
        }

        @Override
        public void remove(int domid) {
        }
    };

    /** Refuses a name {@link #VALID} does not allow, saying what is allowed. */
    static String check(String name) {
        if (name == null || !VALID.matcher(name).matches()) {
            throw new ForkRequestException("'" + name + "' is not a usable domain name: use a letter, then up to 63 "
                    + "letters, digits, '.', '_' or '-'");
        }
        return name;
    }
}
