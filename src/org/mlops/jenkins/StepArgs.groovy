package org.mlops.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * Checks a step's Map arguments against a spec and fills in defaults.
 *
 * A spec maps each allowed key to [type: Class, required: boolean, default: value, allowed: List].
 * Unknown keys are errors: a typo such as `confg:` must never be silently ignored.
 * Pure computation, no pipeline steps: the step itself calls `error` with the message.
 */
class StepArgs implements Serializable {

    private static final long serialVersionUID = 1L

    /** Returns [error: String or null, args: Map with defaults applied]. */
    @NonCPS
    static Map check(String step, Map given, Map spec) {
        Map args = [:]
        List problems = []
        given.each { key, value ->
            String name = key as String
            if (!spec.containsKey(name)) {
                problems << "unknown argument '${name}' (allowed: ${spec.keySet().sort().join(', ')})"
            } else {
                String typeProblem = typeError(name, value, spec[name] as Map)
                if (typeProblem) {
                    problems << typeProblem
                }
                args[name] = value
            }
        }
        spec.each { key, rule ->
            if (!args.containsKey(key)) {
                if (rule.required) {
                    problems << "missing required argument '${key}'"
                } else if (rule.containsKey('default')) {
                    args[key] = rule.default
                }
            }
        }
        String error = problems ? "${step}: ${problems.join('; ')}" : null
        return [error: error, args: args]
    }

    @NonCPS
    private static String typeError(String name, Object value, Map rule) {
        if (value == null) {
            return rule.required ? "argument '${name}' must not be null" : null
        }
        Class type = rule.type as Class
        // A GString is not a String, but it is what "${x}" gives users: accept any CharSequence.
        boolean typeOk = (type == String ? CharSequence : type).isInstance(value)
        if (!typeOk) {
            return "argument '${name}' must be a ${type.simpleName}, got ${value.getClass().simpleName} '${value}'"
        }
        if (rule.allowed && !((rule.allowed as List).contains(type == String ? value.toString() : value))) {
            return "argument '${name}' is '${value}', allowed: ${(rule.allowed as List).join(', ')}"
        }
        return null
    }

}
