/**
 * Base class of every script the harness compiles (Jenkinsfile, vars, `load`ed files), like
 * Jenkins' CpsScript: `println`/`print` go to the build log, not to stdout.
 */
abstract class PipelineScript extends Script {

    PipelineScript() {
        super()
    }

    PipelineScript(Binding binding) {
        super(binding)
    }

    @Override
    void println(Object value) {
        PipelineHarness h = harnessOrNull()
        h != null ? h.appendLog(String.valueOf(value)) : super.println(value)
    }

    @Override
    void println() {
        println('')
    }

    @Override
    void print(Object value) {
        println(value)
    }

    private PipelineHarness harnessOrNull() {
        Binding b = getBinding()
        return b instanceof PipelineBinding ? ((PipelineBinding) b).harness : null
    }

}
