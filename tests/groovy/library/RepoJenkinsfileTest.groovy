import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue

/**
 * The library's own Jenkinsfile: loads the library at the commit under test and runs every
 * stage. The heavy commands are mocked here (they are this very test suite, its set-up, and a
 * pip install that MlopsSetupTest does for real), so this checks the wiring: stages, the
 * steps called, the library version in use, reports and artefacts; the smoke stage's version
 * check and `mlops versions` run the real CLI.
 */
class RepoJenkinsfileTest {

    @Test
    void ciPipelineRunsEveryStageWithTheLibraryUnderTest() {
        File ws = MlopsTestSupport.tempDir('repo-ci-')
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.env.GIT_COMMIT = '0123abcd'
        ['scripts/setup.sh', 'scripts/lint-groovy.sh', 'scripts/test-groovy.sh', 'pytest', 'pip wheel'].each { command ->
            h.shMocks[java.util.regex.Pattern.quote(command)] = [stdout: '', status: 0]
        }
        h.shMocks['ls dist'] = [stdout: 'dist/mlops_helpers-0.1.0-py3-none-any.whl\n', status: 0]
        h.shMocks["'-m' 'venv'"] = [stdout: '', status: 0]
        new File(ws, 'dist').mkdirs()
        new File(ws, 'dist/mlops_helpers-0.1.0-py3-none-any.whl').text = 'wheel'
        // What the mocked install leaves behind: an `mlops` in the smoke venv (the real one, so
        // the version check and `mlops versions` really run).
        new File(ws, '.smoke-venv/bin').mkdirs()
        java.nio.file.Files.createSymbolicLink(new File(ws, '.smoke-venv/bin/mlops').toPath(),
            new File(MlopsTestSupport.venvBin(), 'mlops').toPath())

        BuildResult result = h.runJenkinsfile(new File(MlopsTestSupport.repoRoot(), 'Jenkinsfile'))

        assertEquals("${result.error}", 'SUCCESS', result.result)
        assertEquals(['Set up', 'Lint', 'Groovy tests', 'Python tests', 'Package', 'Smoke test the wheel'], result.stagesRun)
        assertEquals('0123abcd', h.env['library.mlops.version'])
        assertTrue(h.archived.contains('dist/mlops_helpers-0.1.0-py3-none-any.whl'))
        String install = h.shScripts.find { script -> script.contains("'install'") }
        assertTrue(install, install.contains("/dist/mlops_helpers-0.1.0-py3-none-any.whl'") && install.contains("'--constraint'"))
        assertTrue(result.log.contains('smoke: mlops 0.1.0 with scikit-learn'))
    }

}
