package org.xenfork.abi;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;

/**
 * Nearest valid names for an unknown one, by edit distance: for error messages only.
 * Input may be hostile (a batch line can carry a 1 MB name), so the cost is bounded:
 * names longer than {@link #MAX_CHARS} get no suggestions and are never compared, and
 * each candidate's distance is computed once, not in the sort's comparator.
 */
final class NameSuggestions {
    /** Longer than any path or name in Xen's headers (the longest are about 60); edit distance is O(n·m). */
    static final int MAX_CHARS = 128;

    private NameSuggestions() {
    }

    /** {@code "; nearest: a, b, c"} for an error message, or nothing when {@code wanted} is too long to compare. */
    static String hint(String wanted, Collection<String> candidates) {
        List<String> near = nearest(wanted, candidates, 5);
        return near.isEmpty() ? "" : "; nearest: " + String.join(", ", near);
    }

    static List<String> nearest(String wanted, Collection<String> candidates, int max) {
        if (wanted.length() > MAX_CHARS) {
            return List.of();
        }
        String w = wanted.toLowerCase(Locale.ROOT);
        record Scored(String name, int score) {
        }
        List<Scored> scored = new ArrayList<>(candidates.size());
        for (String c : candidates) {
            if (c.length() <= MAX_CHARS) {
                scored.add(new Scored(c, score(w, c.toLowerCase(Locale.ROOT))));
            }
        }
        scored.sort(Comparator.comparingInt(Scored::score).thenComparing(Scored::name));
        return scored.stream().limit(max).map(Scored::name).toList();
    }

    /** Edit distance, with a bonus when one contains the other (a mistyped prefix or suffix). */
    private static int score(String a, String b) {
        int d = distance(a, b);
        return (b.contains(a) || a.contains(b)) ? d / 2 : d;
    }

    private static int distance(String a, String b) {
        int[] prev = new int[b.length() + 1];
        int[] cur = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            prev[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            cur[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
                cur[j] = Math.min(Math.min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            int[] t = prev;
            prev = cur;
            cur = t;
        }
        return prev[b.length()];
    }
}
