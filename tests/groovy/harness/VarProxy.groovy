/**
 * The global that stands for one library var (`vars/<name>.groovy`) in one script's Binding.
 * Groovy resolves `mlopsTrain(...)` in a script to this object's real `call(Object...)` method;
 * `mlopsCli.absolute(x)` reaches methodMissing. Both are recorded in `harness.calls` and forwarded
 * to this binding's own instance of the var script, created on first use with its own Binding
 * (Jenkins instantiates a var per calling script in the same way).
 * Field names start with an underscore so that they do not hide a var's own properties.
 */
class VarProxy {

    private final PipelineHarness _harness
    private final String _varName
    private Script _script

    VarProxy(PipelineHarness harness, String varName) {
        _harness = harness
        _varName = varName
    }

    Object call(Object... args) {
        return _harness.invokeVar(this, 'call', args)
    }

    Object methodMissing(String name, Object args) {
        return _harness.invokeVar(this, name, args as Object[])
    }

    Object propertyMissing(String name) {
        return _harness.varScript(this).getProperty(name)
    }

    void propertyMissing(String name, Object value) {
        _harness.varScript(this).setProperty(name, value)
    }

    String varName() {
        return _varName
    }

    Script cachedScript() {
        return _script
    }

    void cacheScript(Script script) {
        _script = script
    }

    @Override
    String toString() {
        return "library var ${_varName}"
    }

}
