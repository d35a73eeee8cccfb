package org.mlops.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * POSIX shell quoting, so that values with spaces, quotes or `$(...)` reach the
 * command as one literal argument and can neither break nor inject into it.
 */
class Shell implements Serializable {

    private static final long serialVersionUID = 1L

    @NonCPS
    static String quote(Object word) {
        return "'" + word.toString().replace("'", "'\"'\"'") + "'"
    }

    @NonCPS
    static String join(List words) {
        return words.collect { word -> quote(word) }.join(' ')
    }

    /** `--set key=value` pairs for the CLI, in a stable order. */
    @NonCPS
    static List overrides(Map values) {
        List words = []
        values.keySet().collect { key -> key.toString() }.sort().each { key ->
            words << '--set' << "${key}=${values[key]}".toString()
        }
        return words
    }

}
