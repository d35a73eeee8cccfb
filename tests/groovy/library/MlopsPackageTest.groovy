import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue

/**
 * mlopsPackage's wiring. A stand-in `mlops` records its arguments and environment (the real
 * packaging runs against Docker in tests/e2e/test_packaging.py): registry credentials arrive as
 * environment variables only, never on the command line or in the log.
 */
class MlopsPackageTest {

    @Test
    void passesOptionsAsArgumentsAndCredentialsAsEnvironment() {
        File ws = MlopsTestSupport.tempDir('ws-')
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.credentials['registry-push'] = [username: 'ci-bot', password: 'pa55-w0rd']
        File fake = new File(ws, 'fake-mlops')
        fake.text = '''#!/bin/sh
printf '%s\\n' "$@" > args.txt
printf '{"ok": true, "image": "r.example/m", "tags": ["r.example/m:3"], "digest": "sha256:abc", "pushed": true, ''' +
            '''"user": "%s", "password_length": %s}' "$MLOPS_REGISTRY_USERNAME" "${#MLOPS_REGISTRY_PASSWORD}"
'''
        fake.setExecutable(true)
        h.env.MLOPS_BIN = fake.path

        Map result = h.callStep('mlopsPackage', [model: '@3', registry: 'r.example', baseImage: 'python:3.11-slim',
            registryCredentialsId: 'registry-push'])

        assertEquals(['package', '--config', 'mlops.yaml', '--model', '@3', '--push', '--verify', '--base-image',
            'python:3.11-slim', '--registry', 'r.example', '--output', 'json'], new File(ws, 'args.txt').readLines())
        assertEquals('ci-bot', result.user)
        assertEquals('pa55-w0rd'.length(), result.password_length)
        assertEquals('r.example/m@sha256:abc', h.currentBuild.description)
        assertFalse(h.log.contains('pa55-w0rd'))
        assertTrue(h.shScripts.every { script -> !script.contains('pa55-w0rd') && !script.contains('ci-bot') })
    }

    @Test
    void failedInfraValidationFailsTheBuildWithTheReason() {
        File ws = MlopsTestSupport.tempDir('ws-')
        PipelineHarness h = MlopsTestSupport.harness(ws)
        File fake = new File(ws, 'fake-mlops')
        fake.text = '#!/bin/sh\nprintf \'{"ok": false, "error": "infra validation failed, the model is not marked ready for deployment: 3 of 114 predictions differ"}\'\nexit 1\n'
        fake.setExecutable(true)
        h.env.MLOPS_BIN = fake.path

        BuildResult result = h.runJenkinsfile("@Library('mlops') _\nnode { mlopsPackage(push: false) }")

        assertEquals('FAILURE', result.result)
        assertTrue(result.description, result.description.startsWith('mlopsPackage: infra validation failed'))
    }

}
