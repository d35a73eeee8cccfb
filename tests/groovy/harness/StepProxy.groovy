/** The global that stands for one pipeline step (sh, echo, ...): records and runs it. */
class StepProxy {

    private final PipelineHarness _harness
    private final String _stepName

    StepProxy(PipelineHarness harness, String stepName) {
        _harness = harness
        _stepName = stepName
    }

    Object call(Object... args) {
        return _harness.invokeStep(_stepName, args as List)
    }

    @Override
    String toString() {
        return "step ${_stepName}"
    }

}
