package org.xenfork.abi;

import java.util.Collection;
import java.util.Comparator;
import java.util.List;

/** Nearest valid names for an unknown one, by edit distance: for error messages only. */
final class NameSuggestions {
    private NameSuggestions() {
    }

    static List<String> nearest(String wanted, Collection<String> candidates, int max) {
        String w = wanted.toLowerCase(java.util.Locale.ROOT);
        return candidates.stream()
                .sorted(Comparator.comparingInt((String c) -> score(w, c.toLowerCase(java.util.Locale.ROOT)))
                        .thenComparing(Comparator.naturalOrder()))
                .limit(max)
                .toList();
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
