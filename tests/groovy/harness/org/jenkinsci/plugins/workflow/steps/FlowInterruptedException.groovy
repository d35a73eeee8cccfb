package org.jenkinsci.plugins.workflow.steps

/**
 * Stand-in for Jenkins' FlowInterruptedException: thrown when a build is interrupted, e.g. when
 * an `input` is answered with Abort. `result` is the build result it leads to ('ABORTED').
 * Like the real class it is an InterruptedException, so `catch (Exception e)` catches it.
 */
class FlowInterruptedException extends InterruptedException {

    private static final long serialVersionUID = 1L

    final String result
    final List<String> causes

    FlowInterruptedException(String result, String... causes) {
        super(result)
        this.result = result
        this.causes = causes as List<String>
    }

    @Override
    String getMessage() {
        return causes ? "${result}: ${causes.join('; ')}".toString() : result
    }

}
