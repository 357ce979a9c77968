package org.xenfork.xenstore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class XsPathTest {

    @ParameterizedTest
    @ValueSource(strings = {"/", "/local/domain/0", "/a-b_c@d/E9", "relative/path", "name", "/tool/xenfork/@x"})
    void validNodePaths(String path) {
        assertThat(XsPath.requireNodePath(path)).isEqualTo(path);
        assertThat(XsPath.requireWatchPath(path)).isEqualTo(path);
    }

    @Test
    void specialPathsOnlyForWatches() {
        assertThat(XsPath.requireWatchPath("@introduceDomain")).isEqualTo("@introduceDomain");
        assertThat(XsPath.requireWatchPath("@releaseDomain")).isEqualTo("@releaseDomain");
        assertThatThrownBy(() -> XsPath.requireNodePath("@releaseDomain"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("invalid xenstore path \"@releaseDomain\": names starting with '@' are special watch paths, not nodes");
        assertThatThrownBy(() -> XsPath.requireWatchPath("@")).hasMessageEndingWith("'@' alone names nothing");
    }

    @Test
    void eachRuleIsNamed() {
        assertThatThrownBy(() -> XsPath.requireNodePath(null)).hasMessageEndingWith(": null");
        assertThatThrownBy(() -> XsPath.requireNodePath("")).hasMessageEndingWith(": empty");
        assertThatThrownBy(() -> XsPath.requireNodePath("/a//b")).hasMessageEndingWith(": contains '//'");
        assertThatThrownBy(() -> XsPath.requireNodePath("/a/")).hasMessageEndingWith(": ends with '/'");
        assertThatThrownBy(() -> XsPath.requireNodePath("a/")).hasMessageEndingWith(": ends with '/'");
        assertThatThrownBy(() -> XsPath.requireNodePath("/a b"))
                .hasMessage("invalid xenstore path \"/a b\": character U+0020 at index 2 is not one of A-Z a-z 0-9 - / _ @");
        assertThatThrownBy(() -> XsPath.requireNodePath("/a\0b")).hasMessageContaining("U+0000 at index 2");
        assertThatThrownBy(() -> XsPath.requireNodePath("/caf\u00e9")).hasMessageContaining("U+00E9");
        assertThatThrownBy(() -> XsPath.requireNodePath("/a.b")).hasMessageContaining("U+002E");
        assertThatThrownBy(() -> XsPath.requireNodePath("/a\nb"))
                .hasMessageStartingWith("invalid xenstore path \"/a\\u000ab\"");
    }

    @Test
    void absoluteLimitIsXenstoreAbsPathMax() {
        String atLimit = "/" + "a".repeat(XsWire.ABS_PATH_MAX - 1);
        assertThat(XsPath.isValidNodePath(atLimit)).isTrue();
        assertThatThrownBy(() -> XsPath.requireNodePath(atLimit + "a"))
                .hasMessageEndingWith(": 3073 characters, more than XENSTORE_ABS_PATH_MAX (3072)")
                .hasMessageStartingWith("invalid xenstore path \"/aaaa") // cut short in the message
                .hasMessageContaining("...\"");
    }

    @Test
    void relativeLimitIsXenstoreRelPathMax() {
        String atLimit = "a".repeat(XsWire.REL_PATH_MAX);
        assertThat(XsPath.isValidNodePath(atLimit)).isTrue();
        assertThatThrownBy(() -> XsPath.requireNodePath(atLimit + "a"))
                .hasMessageEndingWith(": 2049 characters, more than XENSTORE_REL_PATH_MAX (2048)");
    }
}
