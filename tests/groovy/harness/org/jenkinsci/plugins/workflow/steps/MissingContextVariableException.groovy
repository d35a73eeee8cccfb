package org.jenkinsci.plugins.workflow.steps

/**
 * Stand-in for Jenkins' MissingContextVariableException: a step that needs a workspace (sh,
 * writeFile, junit, ...) was called outside `node {}` / a declarative `agent`.
 */
class MissingContextVariableException extends Exception {

    private static final long serialVersionUID = 1L

    MissingContextVariableException(String step) {
        super("Required context class hudson.FilePath is missing\n" +
            "Perhaps you forgot to surround the ${step} step with a step that provides this, such as: node")
    }

}
