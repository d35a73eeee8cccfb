/**
 * The Binding of one script (the Jenkinsfile, or one instance of a var). Each script has its own,
 * as in Jenkins: a global assigned in the Jenkinsfile (`FOO = 1`) is not visible inside a var.
 * Like CpsScript, a name that is neither a binding variable nor a global falls back to the
 * build's environment variables (`echo BUILD_NUMBER`).
 */
class PipelineBinding extends Binding {

    final PipelineHarness harness

    PipelineBinding(PipelineHarness harness, Map variables) {
        super(variables)
        this.harness = harness
    }

    @Override
    Object getVariable(String name) {
        Map vars = getVariables()
        if (vars.containsKey(name)) {
            return vars.get(name)
        }
        if (harness.env.containsKey(name)) {
            return harness.env.get(name)
        }
        throw new MissingPropertyException(name, getClass())
    }

    @Override
    boolean hasVariable(String name) {
        return getVariables().containsKey(name) || harness.env.containsKey(name)
    }

}
