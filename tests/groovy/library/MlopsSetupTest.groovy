import hudson.AbortException
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** mlopsSetup installs or reuses the helper package at exactly the library's version. */
class MlopsSetupTest {

    static final String VERSION = (new File(MlopsTestSupport.repoRoot(), 'mlops_helpers/__init__.py').text =~ /__version__ = "(.+)"/)[0][1]

    @Test
    void libraryTagDecidesTheVersionAndAMatchingVenvIsReused() {
        File ws = MlopsTestSupport.tempDir('ws-')
        java.nio.file.Files.createSymbolicLink(new File(ws, '.mlops-venv').toPath(),
            new File(MlopsTestSupport.repoRoot(), '.venv').toPath())
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.env['library.mlops.version'] = "v${VERSION}"

        Map setup = h.callStep('mlopsSetup', [:])

        assertEquals([bin: "${ws}/.mlops-venv/bin/mlops".toString(), version: VERSION, reused: true], setup)
        assertEquals(setup.bin, h.env.MLOPS_BIN)
        assertFalse('nothing installed', h.calls.any { call -> call.step == 'sh' && call.named.script.contains('pip') })
    }

    @Test
    void branchBuildsMustSayWhatToInstall() {
        PipelineHarness h = MlopsTestSupport.harness(MlopsTestSupport.tempDir('ws-'))
        h.env['library.mlops.version'] = 'main'
        assertEquals("mlopsSetup: the library version 'main' is not a release tag (vX.Y.Z); " +
            "pass 'version', 'packageSpec' or 'preinstalled: true'", abortMessage(h, [:]))
    }

    @Test
    void preinstalledHelpersOfAnotherVersionAreRefused() {
        PipelineHarness h = MlopsTestSupport.harness(MlopsTestSupport.tempDir('ws-'))
        assertEquals("mlopsSetup: found mlops ${VERSION} but the library needs 9.9.9".toString(),
            abortMessage(h, [preinstalled: true, version: '9.9.9']))
        assertEquals([bin: 'mlops', version: VERSION, reused: true], h.callStep('mlopsSetup', [preinstalled: true]))
    }

    @Test
    void installsIntoAFreshVirtualenvFromAPackageSpec() {
        File ws = MlopsTestSupport.tempDir('ws-')
        PipelineHarness h = MlopsTestSupport.harness(ws)
        File repo = MlopsTestSupport.repoRoot()

        Map setup = h.callStep('mlopsSetup', [packageSpec: repo.path, pipArgs: ['-c', new File(repo, 'constraints.txt').path]])

        assertEquals(VERSION, setup.version)
        assertFalse(setup.reused)
        assertTrue(new File(ws, '.mlops-venv/bin/mlops').canExecute())
        // The installed package (not the checkout) carries the templates `mlops init` needs.
        String init = MlopsTestSupport.run([setup.bin as String, 'init', new File(ws, 'p').path, '--dataset', 'iris',
            '--dvc-remote', new File(ws, 'remote').path], ws)
        assertTrue(init, new File(ws, 'p/Jenkinsfile').text.contains('mlopsPipeline'))
        assertTrue(h.calls.any { call -> call.step == 'sh' && call.named.script.contains("'-m' 'venv' '.mlops-venv'") })
    }

    private static String abortMessage(PipelineHarness h, Map args) {
        try {
            h.callStep('mlopsSetup', args)
        } catch (AbortException e) {
            return e.message
        }
        fail("mlopsSetup(${args}) succeeded")
        return null
    }

}
