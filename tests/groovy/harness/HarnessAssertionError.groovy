/**
 * A test failure raised by the harness itself (not a build failure): a secret interpolated into
 * `sh`, an unknown step parameter, a misuse of the harness. The harness never turns it into a
 * FAILURE result: it always reaches the test. It is an Error, so `catch (Exception e)` in a var
 * does not swallow it.
 */
class HarnessAssertionError extends AssertionError {

    private static final long serialVersionUID = 1L

    HarnessAssertionError(String message) {
        // Groovy 2.4 on JDK 17 picks AssertionError's private String constructor without the cast.
        super((Object) message)
    }

}
