package hudson

/**
 * Stand-in for `hudson.AbortException`: what `error(msg)` and failing steps throw in Jenkins.
 * Like the real class it is an IOException whose message is the whole story (no stack trace is
 * printed for it: the console shows `ERROR: <message>`).
 */
class AbortException extends IOException {

    private static final long serialVersionUID = 1L

    AbortException() {
        super()
    }

    AbortException(String message) {
        super(message)
    }

}
