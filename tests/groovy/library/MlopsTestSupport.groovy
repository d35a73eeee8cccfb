import java.nio.file.Files

/** Shared set-up for the library's tests: the repository, harnesses, real `mlops init` projects. */
class MlopsTestSupport {

    static File repoRoot() {
        return new File(System.getProperty('mlops.repoRoot') ?: System.getProperty('user.dir')).canonicalFile
    }

    static File venvBin() {
        return new File(repoRoot(), '.venv/bin')
    }

    /** A temporary folder, inside MLOPS_TEST_TMP when set (scripts/test-groovy.sh removes it after the run). */
    static File tempDir(String prefix) {
        String root = System.getenv('MLOPS_TEST_TMP')
        return (root ? Files.createTempDirectory(new File(root).toPath(), prefix) : Files.createTempDirectory(prefix)).toFile()
    }

    /** A harness whose PATH finds the repository's `mlops` (what mlopsSetup(preinstalled: true) expects). */
    static PipelineHarness harness(File workspace) {
        PipelineHarness h = new PipelineHarness(repoRoot(), workspace)
        h.env.PATH = "${venvBin()}:${System.getenv('PATH')}"
        return h
    }

    /** `mlops init` a project as a checkout would leave it, with the repo's venv at the default mlopsSetup path. */
    static File initProject(String name = 'breast-cancer', String dataset = 'breast_cancer') {
        File parent = tempDir('mlops-jenkins-')
        File workspace = new File(parent, name)
        run([new File(venvBin(), 'mlops').path, 'init', workspace.path, '--dataset', dataset,
             '--dvc-remote', new File(parent, 'dvc-remote').path], parent)
        Files.createSymbolicLink(new File(workspace, '.mlops-venv').toPath(), new File(repoRoot(), '.venv').toPath())
        return workspace
    }

    /** Runs a command; returns its stdout, fails with its stderr. */
    static String run(List<String> command, File dir) {
        Process process = new ProcessBuilder(command).directory(dir).start()
        StringBuilder out = new StringBuilder()
        StringBuilder err = new StringBuilder()
        process.waitForProcessOutput(out, err)
        if (process.exitValue() != 0) {
            throw new IllegalStateException("${command.join(' ')} failed:\n${err}\n${out}")
        }
        return out.toString()
    }

    /** The `mlops` CLI's JSON answer, run in a project folder. */
    static Map mlopsJson(File workspace, List<String> args) {
        String out = run([new File(venvBin(), 'mlops').path] + args + ['--output', 'json'], workspace)
        return new groovy.json.JsonSlurperClassic().parseText(out) as Map
    }


    /** The error of `step(args)`, which must be refused before any `sh` runs. */
    static String refusal(String step, Map args) {
        PipelineHarness h = harness(tempDir('ws-'))
        try {
            h.callStep(step, args)
        } catch (hudson.AbortException e) {
            org.junit.Assert.assertTrue('no sh may run before validation', h.callsTo('sh').isEmpty())
            return e.message
        }
        org.junit.Assert.fail("${step}(${args}) was accepted")
        return null
    }
}
