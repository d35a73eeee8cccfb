import hudson.AbortException
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/** Every step rejects unknown, missing, mistyped and disallowed arguments, naming step and key. */
class StepArgumentsTest {

    /** step -> [an argument of the wrong type, the message part that names it] */
    static final Map WRONG_TYPE = [
        mlopsSetup: [[venv: 42], "argument 'venv' must be a String, got Integer"],
        mlopsData: [[config: ['a']], "argument 'config' must be a String, got ArrayList"],
        mlopsValidateData: [[data: true], "argument 'data' must be a String, got Boolean"],
        mlopsTrain: [[set: 'max_depth=3'], "argument 'set' must be a Map, got String"],
        mlopsEvaluate: [[artefact: 7], "argument 'artefact' must be a String, got Integer"],
        mlopsRegister: [[stage: 1], "argument 'stage' must be a String, got Integer"],
        mlopsCli: [[args: 'versions'], "argument 'args' must be a List, got String"],
        mlopsPipeline: [[approval: 'no'], "argument 'approval' must be a Boolean, got String"],
        mlopsPackage: [[push: 'yes'], "argument 'push' must be a Boolean, got String"],
        mlopsDeploy: [[timeout: '10m'], "argument 'timeout' must be a Integer, got String"],
        mlopsRollout: [[action: 'promote', full: 'yes'], "argument 'full' must be a Boolean, got String"],
    ]

    /** step -> [an argument outside its allowed values, the message part] */
    static final Map NOT_ALLOWED = [
        mlopsData: [[action: 'delete'], "argument 'action' is 'delete', allowed: status, pull, push, add"],
        mlopsValidateData: [[onFailure: 'IGNORE'], "argument 'onFailure' is 'IGNORE', allowed: FAILURE, UNSTABLE"],
        mlopsEvaluate: [[onFailure: 'SUCCESS'], "argument 'onFailure' is 'SUCCESS', allowed: FAILURE, UNSTABLE"],
        mlopsRegister: [[stage: 'prod'], "argument 'stage' is 'prod', allowed: staging, production, none"],
        mlopsCli: [[args: ['versions'], onCheckFailure: 'x'], "argument 'onCheckFailure' is 'x', allowed: FAILURE, UNSTABLE, RETURN"],
        mlopsPipeline: [[onGateFailure: 'ABORT'], "argument 'onGateFailure' is 'ABORT', allowed: FAILURE, UNSTABLE"],
        mlopsDeploy: [[strategy: 'linear'],
            "argument 'strategy' is 'linear', allowed: recreate, ramped, bluegreen, canary, abtest"],
        mlopsRollout: [[action: 'restart'],
            "argument 'action' is 'restart', allowed: status, promote, abort, resume, undo"],
    ]

    @Test
    void unknownArgumentsAreRejectedByEveryStep() {
        WRONG_TYPE.keySet().each { String step ->
            String message = failure(step, [confg: 'mlops.yaml'] + (step == 'mlopsCli' ? [args: ['versions']] : [:]))
            assertTrue(message, message.startsWith("${step}: unknown argument 'confg' (allowed: "))
        }
    }

    @Test
    void wronglyTypedArgumentsAreRejectedByEveryStep() {
        WRONG_TYPE.each { String step, List example ->
            String message = failure(step, example[0] as Map)
            assertTrue("${step}: ${message}", message.startsWith("${step}: ") && message.contains(example[1] as String))
        }
    }

    @Test
    void valuesOutsideTheAllowedSetAreRejected() {
        NOT_ALLOWED.each { String step, List example ->
            String message = failure(step, example[0] as Map)
            assertTrue("${step}: ${message}", message.contains(example[1] as String))
        }
    }

    @Test
    void missingRequiredArgumentIsNamed() {
        assertEquals("mlopsCli: missing required argument 'args'", failure('mlopsCli', [:]))
    }

    @Test
    void allProblemsAreReportedAtOnce() {
        String message = failure('mlopsTrain', [sett: [:], archive: 'yes'])
        assertTrue(message, message.contains("unknown argument 'sett'") && message.contains("argument 'archive' must be a Boolean"))
    }

    @Test
    void gstringsAreAcceptedWhereStringsAreExpected() {
        PipelineHarness h = MlopsTestSupport.harness(MlopsTestSupport.tempDir('ws-'))
        String name = 'mlops.yaml'
        h.shMocks['mlops.*data.*status'] = [stdout: '', status: 0]
        h.callStep('mlopsData', [action: 'status', config: "${name}"])
        assertTrue(h.calls.any { call -> call.step == 'sh' && call.named.script.contains("'mlops.yaml'") })
    }

    @Test
    void unknownPipelineArgumentFailsTheBuildBeforeAnyStage() {
        PipelineHarness h = MlopsTestSupport.harness(MlopsTestSupport.tempDir('ws-'))
        BuildResult result = h.runJenkinsfile("@Library('mlops') _\nmlopsPipeline(confg: 'mlops.yaml')")
        assertEquals('FAILURE', result.result)
        assertTrue(result.log, result.log.contains("mlopsPipeline: unknown argument 'confg'"))
        assertEquals([], result.stagesRun)
    }

    private static String failure(String step, Map args) {
        PipelineHarness h = MlopsTestSupport.harness(MlopsTestSupport.tempDir('ws-'))
        try {
            h.callStep(step, args)
        } catch (AbortException e) {
            assertTrue('no sh may run before validation', h.calls.every { call -> call.step != 'sh' })
            return e.message
        }
        fail("${step}(${args}) was accepted")
        return null
    }

}
