import hudson.AbortException
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** Values cannot break or inject into shell commands; secrets never reach a command line or the log. */
class LibrarySafetyTest {

    @Test
    void hostileValuesArriveAsOneLiteralArgument() {
        File ws = MlopsTestSupport.tempDir('ws-')
        PipelineHarness h = MlopsTestSupport.harness(ws)
        String hostile = "it's \"quoted\" \$(touch pwned) `touch pwned2`; touch pwned3 .yaml"
        try {
            h.callStep('mlopsCli', [args: ['config', 'check', '--config', hostile]])
            fail('a missing config file must fail the step')
        } catch (AbortException e) {
            // The CLI saw the whole value as one file name, exactly as written.
            assertEquals("mlopsCli: ${hostile}: config file not found (create one with `mlops init`)".toString(), e.message)
        }
        assertFalse(new File(ws, 'pwned').exists() || new File(ws, 'pwned2').exists() || new File(ws, 'pwned3').exists())
    }

    @Test
    void credentialsReachTheCommandOnlyThroughItsEnvironment() {
        File ws = MlopsTestSupport.tempDir('ws-')
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.credentials['jenkins-token'] = 's3cr3t-t0ken'
        // Stand-in for the CLI: prove the variable is set inside the credentials block.
        h.env.MLOPS_BIN = new File(ws, 'fake-mlops').path
        new File(ws, 'fake-mlops').text = '#!/bin/sh\nprintf \'{"ok": true, "token_length": %s}\' "${#JENKINS_API_TOKEN}"\n'
        new File(ws, 'fake-mlops').setExecutable(true)

        Map result = h.callStep('mlopsCli', [args: ['versions'],
            credentials: [[type: 'string', id: 'jenkins-token', variable: 'JENKINS_API_TOKEN']]])

        assertEquals('s3cr3t-t0ken'.length(), result.token_length)
        assertFalse(h.log.contains('s3cr3t-t0ken'))
        assertTrue(h.calls.findAll { call -> call.step == 'sh' }.every { call -> !call.named.script.contains('s3cr3t') })
        assertFalse('the variable is gone after the block', h.env.containsKey('JENKINS_API_TOKEN'))
    }

    @Test
    void unknownCredentialsTypeIsRefused() {
        PipelineHarness h = MlopsTestSupport.harness(MlopsTestSupport.tempDir('ws-'))
        try {
            h.callStep('mlopsCli', [args: ['versions'], credentials: [[type: 'sshKey', id: 'x', variable: 'K']]])
            fail('accepted an unknown credentials type')
        } catch (AbortException e) {
            assertEquals("mlopsCli: credentials type 'sshKey' is not one of string, file, usernamePassword", e.message)
        }
    }

    @Test
    void usageErrorsFailWithTheCliMessage() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        try {
            h.callStep('mlopsTrain', [set: ['training.params.n_estimators': -3]])
            fail('a bad hyper-parameter must fail the step')
        } catch (AbortException e) {
            assertTrue(e.message, e.message.startsWith('mlopsTrain: mlops.yaml: training.params.n_estimators: -3 is not valid'))
        }
    }

}
