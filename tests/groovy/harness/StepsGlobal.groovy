/** Jenkins' `steps` global: `steps.sh(...)` calls the step even where a var of the same name exists. */
class StepsGlobal {

    private final PipelineHarness _harness

    StepsGlobal(PipelineHarness harness) {
        _harness = harness
    }

    Object methodMissing(String name, Object args) {
        return _harness.invokeStep(name, (args as Object[]) as List)
    }

}
