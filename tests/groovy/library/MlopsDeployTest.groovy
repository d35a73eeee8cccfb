import hudson.AbortException
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * mlopsDeploy, mlopsRollout and mlopsPipeline's Deploy stage, against a MOCK `mlops`
 * (FakeMlops.groovy, put in place through MLOPS_BIN by CliFixture): a shell script that answers each call with
 * the next canned JSON and exit code of the `mlops deploy` / `mlops rollout` contract and records
 * its arguments, so the tests see exactly what the real CLI would receive. The real CLI's
 * rollouts are tested in Python. Each exit code's path: 0 promoted, 1 aborted, 2 usage error,
 * 3 paused (approved, rejected, approval timed out, no approval), 4 timed out.
 */
class MlopsDeployTest {

    static final Map PAUSED = [env: 'production', status: 'paused', strategy: 'canary', stable: '3', candidate: '4',
        weights: ['3': 80, '4': 20], step: [index: 2, total: 6, name: 'pause'], reason: 'pause until promoted',
        url: 'http://127.0.0.1:8000']
    static final Map PROMOTED = PAUSED + [status: 'promoted', stable: '4', candidate: null, weights: ['4': 100],
        step: [index: 6, total: 6, name: 'done'], reason: '']
    static final Map ABORTED = PAUSED + [status: 'aborted', weights: ['3': 100],
        reason: 'error_rate 0.31 > 0.05 (max) on v4']
    static final Map PROGRESSING = PAUSED + [status: 'progressing', reason: '']
    static final List DEPLOY_V4 = ['deploy', '--env', 'production', '--version', '4', '--strategy', 'canary',
        '--timeout', '600', '--config', 'mlops.yaml', '--output', 'json']
    static final List PROMOTE = ['rollout', 'promote', '--env', 'production', '--timeout', '600', '--config',
        'mlops.yaml', '--output', 'json']

    // ------------------------------------------------------------------ mlopsDeploy: one test per exit code

    @Test
    void exit0PromotedSucceedsWithDescriptionAndReturnsTheState() {
        CliFixture f = new CliFixture([[status: 0, json: PROMOTED]])
        Map result = f.h.callStep('mlopsDeploy', [strategy: 'canary', version: 4, timeout: 600])

        assertEquals([DEPLOY_V4], f.mlops.calls())
        assertEquals('promoted', result.status)
        assertEquals(0, result.exitCode)
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
        assertEquals('canary: v4 promoted in production', f.h.currentBuild.description)
        assertTrue(f.h.log, f.h.log.contains('mlopsDeploy: canary of v4 promoted in production (traffic: v4 100%)'))
        assertTrue(f.h.inputs.isEmpty())
        assertEquals('promoted', report(f).status)
        assertTrue(f.h.archived.contains('mlops-out/reports/deploy-production.json'))
    }

    @Test
    void exit1AbortedFailsTheBuildWithTheReason() {
        CliFixture f = new CliFixture([[status: 1, json: ABORTED]])
        BuildResult build = f.run("mlopsDeploy(strategy: 'canary', version: 4, timeout: 600)")

        assertEquals('FAILURE', build.result)
        assertEquals('mlopsDeploy: rollout of v4 aborted: error_rate 0.31 > 0.05 (max) on v4', build.error.message)
        assertEquals('canary: v4 aborted in production', build.description)
        assertTrue(build.log.contains('mlopsDeploy: canary of v4 aborted in production (traffic: v3 100%)'))
        assertEquals([DEPLOY_V4], f.mlops.calls())
    }

    @Test
    void exit2UsageErrorFailsWithTheCliMessageAndAbortsNothing() {
        CliFixture f = new CliFixture([[status: 2, json: [ok: false, error: 'mlops.yaml: deploy.canary.steps: empty']]])
        BuildResult build = f.run("mlopsDeploy(strategy: 'canary')")

        assertEquals('FAILURE', build.result)
        assertEquals('mlopsDeploy: mlops.yaml: deploy.canary.steps: empty', build.error.message)
        assertEquals(1, f.mlops.calls().size())
    }

    @Test
    void exit3PausedAsksForApprovalThenPromotes() {
        CliFixture f = new CliFixture([[status: 3, json: PAUSED], [status: 0, json: PROMOTED]])
        Map result = f.h.callStep('mlopsDeploy', [strategy: 'canary', version: 4, timeout: 600, approvers: 'ml-leads',
            approvalTimeout: 30])

        assertEquals([DEPLOY_V4, PROMOTE], f.mlops.calls())
        assertEquals('promoted', result.status)
        assertEquals(1, f.h.inputs.size())
        assertEquals('Promote v4 in production? reason: pause until promoted (traffic: v3 80%, v4 20%)',
            f.h.inputs[0].message)
        assertEquals('Promote', f.h.inputs[0].ok)
        assertEquals('ml-leads', f.h.inputs[0].submitter)
        assertEquals([[time: 30, unit: 'MINUTES']], f.h.callsTo('timeout')*.named)
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
        assertEquals('canary: v4 promoted in production', f.h.currentBuild.description)
    }

    @Test
    void aRolloutThatPausesAgainIsAskedAgain() {
        Map inconclusive = PAUSED + [reason: 'analysis inconclusive: latency_p99 0.21 (max 0.2)',
            weights: ['3': 50, '4': 50]]
        CliFixture f = new CliFixture([[status: 3, json: PAUSED], [status: 3, json: inconclusive],
            [status: 0, json: PROMOTED]])
        f.h.callStep('mlopsDeploy', [strategy: 'canary', version: 4, timeout: 600])

        assertEquals([DEPLOY_V4, PROMOTE, PROMOTE], f.mlops.calls())
        assertEquals(2, f.h.inputs.size())
        assertTrue(f.h.inputs[1].message.startsWith('Promote v4 in production? reason: analysis inconclusive'))
        assertTrue('no approval time limit unless asked', f.h.callsTo('timeout').isEmpty())
        assertNull('anyone may approve by default', f.h.inputs[0].submitter)
    }

    @Test
    void exit3RejectedAbortsTheRolloutAndTheBuild() {
        CliFixture f = new CliFixture([[status: 3, json: PAUSED], [status: 0, json: ABORTED + [status: 'aborted']]])
        f.h.inputResponse = 'abort'
        f.h.inputSubmitter = 'alice'
        BuildResult build = f.run("mlopsDeploy(strategy: 'canary', version: 4, timeout: 600)")

        assertEquals('ABORTED', build.result)
        assertEquals([DEPLOY_V4, ['rollout', 'abort', '--env', 'production', '--reason', 'rejected in Jenkins by alice',
            '--config', 'mlops.yaml', '--output', 'json']], f.mlops.calls())
        assertEquals('canary: v4 aborted in production (rejected in Jenkins by alice)', build.description)
        assertEquals('aborted', report(f).status)
    }

    @Test
    void exit3ApprovalTimeoutAbortsTheRolloutAndTheBuild() {
        CliFixture f = new CliFixture([[status: 3, json: PAUSED], [status: 0, json: ABORTED]])
        // What Jenkins' timeout step throws when the time runs out during the input.
        f.h.stubStep('input') { Map a -> throw new FlowInterruptedException('ABORTED', 'Timeout has been exceeded') }
        BuildResult build = f.run("mlopsDeploy(strategy: 'canary', version: 4, timeout: 600, approvalTimeout: 5)")

        assertEquals('ABORTED', build.result)
        assertEquals(['rollout', 'abort', '--env', 'production', '--reason', 'approval timed out in Jenkins',
            '--config', 'mlops.yaml', '--output', 'json'], f.mlops.calls()[1])
        assertEquals(2, f.mlops.calls().size())
    }

    @Test
    void exit3WithoutApprovalLeavesTheRolloutPausedAndTheBuildUnstable() {
        CliFixture f = new CliFixture([[status: 3, json: PAUSED]])
        BuildResult build = f.run("mlopsDeploy(strategy: 'canary', version: 4, timeout: 600, approval: false)")

        assertEquals('UNSTABLE', build.result)
        assertTrue(f.h.inputs.isEmpty())
        assertEquals([DEPLOY_V4], f.mlops.calls())
        assertEquals('canary: v4 paused in production', build.description)
        assertTrue(build.log, build.log.contains('WARNING: mlopsDeploy: canary of v4 paused in production: ' +
            'pause until promoted; continue with `mlops rollout promote --env production`'))
    }

    @Test
    void exit4TimedOutAbortsTheRolloutAndFails() {
        CliFixture f = new CliFixture([[status: 4, json: PROGRESSING], [status: 0, json: ABORTED]])
        BuildResult build = f.run("mlopsDeploy(strategy: 'canary', version: 4, timeout: 600)")

        assertEquals('FAILURE', build.result)
        assertEquals([DEPLOY_V4, ['rollout', 'abort', '--env', 'production', '--reason', 'timed out in Jenkins',
            '--config', 'mlops.yaml', '--output', 'json']], f.mlops.calls())
        assertEquals('mlopsDeploy: rollout of v4 timed out after 600 s in production; aborted: all traffic back on v3',
            build.error.message)
        assertEquals('canary: v4 timed out in production', build.description)
    }

    @Test
    void promoteAfterApprovalHandlesItsExitCodesLikeDeploy() {
        CliFixture f = new CliFixture([[status: 3, json: PAUSED], [status: 4, json: PAUSED], [status: 0, json: ABORTED]])
        BuildResult build = f.run("mlopsDeploy(strategy: 'canary', version: 4, timeout: 600)")

        assertEquals('FAILURE', build.result)
        assertEquals([DEPLOY_V4, PROMOTE], f.mlops.calls().take(2))
        assertEquals('timed out in Jenkins', f.mlops.calls()[2][5])
    }

    // ------------------------------------------------------------------ command lines and quoting

    @Test
    void aliasEnvironmentAndOverridesBecomeArguments() {
        CliFixture f = new CliFixture([[status: 0, json: PROMOTED + [env: 'staging', strategy: 'bluegreen']]])
        f.h.callStep('mlopsDeploy', [alias: 'staging', environment: 'staging', strategy: 'bluegreen',
            config: 'model/mlops.yaml', set: ['deploy.bluegreen.preview_seconds': 30, 'deploy.target.replicas': 2]])

        assertEquals([['deploy', '--env', 'staging', '--version', 'staging', '--strategy', 'bluegreen', '--config',
            'model/mlops.yaml', '--set', 'deploy.bluegreen.preview_seconds=30', '--set', 'deploy.target.replicas=2',
            '--output', 'json']], f.mlops.calls())
        assertEquals('bluegreen: v4 promoted in staging', f.h.currentBuild.description)
        assertTrue(new File(f.ws, 'mlops-out/reports/deploy-staging.json').isFile())
    }

    @Test
    void overridesReachEveryCommandOfTheRollout() {
        CliFixture f = new CliFixture([[status: 3, json: PAUSED], [status: 3, json: PAUSED], [status: 0, json: ABORTED]])
        f.h.inputResponse = 'abort'
        f.h.callStep('mlopsDeploy', [set: ['deploy.target.port': 9000], approval: false])
        f.run("mlopsDeploy(set: ['deploy.target.port': 9000])")

        List overrides = ['--config', 'mlops.yaml', '--set', 'deploy.target.port=9000', '--output', 'json']
        assertEquals(['deploy', '--env', 'production'] + overrides, f.mlops.calls()[1])
        assertEquals(['rollout', 'abort', '--env', 'production', '--reason', 'rejected in Jenkins by tester'] +
            overrides, f.mlops.calls()[2])
    }

    @Test
    void hostileValuesArriveAsOneLiteralArgument() {
        String hostile = "it's \"quoted\" \$(touch pwned) `touch pwned2`; touch pwned3"
        CliFixture f = new CliFixture([[status: 0, json: ABORTED], [status: 0, json: PROMOTED]])
        f.h.callStep('mlopsRollout', [action: 'abort', reason: hostile])
        f.h.callStep('mlopsDeploy', [alias: hostile, set: ['deploy.note': hostile]])

        assertEquals(['rollout', 'abort', '--env', 'production', '--reason', hostile, '--config', 'mlops.yaml',
            '--output', 'json'], f.mlops.calls()[0])
        assertEquals(['deploy', '--env', 'production', '--version', hostile, '--config', 'mlops.yaml', '--set',
            "deploy.note=${hostile}".toString(), '--output', 'json'], f.mlops.calls()[1])
        assertFalse(['pwned', 'pwned2', 'pwned3'].any { name -> new File(f.ws, name).exists() })
    }

    // ------------------------------------------------------------------ argument errors

    @Test
    void argumentErrorsAreAllReportedBeforeAnythingRuns() {
        assertEquals("mlopsDeploy: give 'version' or 'alias', not both",
            MlopsTestSupport.refusal('mlopsDeploy', [version: 4, alias: 'staging']))
        assertEquals("mlopsDeploy: argument 'strategy' is 'linear', allowed: " +
            'recreate, ramped, bluegreen, canary, abtest',
            MlopsTestSupport.refusal('mlopsDeploy', [strategy: 'linear']))
        String several = MlopsTestSupport.refusal('mlopsDeploy', [stratgy: 'canary', approval: 'yes', version: 4, alias: 'x',
            timeout: 0])
        assertTrue(several, several.startsWith("mlopsDeploy: unknown argument 'stratgy' (allowed: "))
        ["argument 'approval' must be a Boolean, got String", "give 'version' or 'alias', not both",
         "argument 'timeout' must be at least 1, got 0"].each { part -> assertTrue(several, several.contains(part)) }
        assertEquals("mlopsRollout: missing required argument 'action'", MlopsTestSupport.refusal('mlopsRollout', [:]))
        assertEquals("mlopsRollout: argument 'action' is 'restart', allowed: status, promote, abort, resume, undo",
            MlopsTestSupport.refusal('mlopsRollout', [action: 'restart']))
        assertEquals("mlopsRollout: argument 'full' only applies to action promote, not 'abort'; " +
            "argument 'timeout' only applies to action promote or resume, not 'abort'",
            MlopsTestSupport.refusal('mlopsRollout', [action: 'abort', full: true, timeout: 60]))
        assertEquals("mlopsRollout: argument 'reason' only applies to action abort, not 'promote'",
            MlopsTestSupport.refusal('mlopsRollout', [action: 'promote', reason: 'because']))
    }

    // ------------------------------------------------------------------ mlopsRollout

    @Test
    void rolloutStatusReturnsTheStateOrNoRollout() {
        CliFixture f = new CliFixture([[status: 0, json: PAUSED],
            [status: 2, json: [ok: false, error: "no rollout in environment 'staging' yet"]]])
        Map paused = f.h.callStep('mlopsRollout', [action: 'status'])
        Map none = f.h.callStep('mlopsRollout', [action: 'status', environment: 'staging'])

        assertEquals('paused', paused.status)
        assertEquals(2, none.exitCode)
        assertEquals([['rollout', 'status', '--env', 'production', '--config', 'mlops.yaml', '--output', 'json'],
            ['rollout', 'status', '--env', 'staging', '--config', 'mlops.yaml', '--output', 'json']], f.mlops.calls())
        assertTrue(f.h.log.contains('mlopsRollout: status in production: canary paused, stable v3, candidate v4 ' +
            '(traffic: v3 80%, v4 20%)'))
        assertTrue(f.h.log.contains("mlopsRollout: no rollout in environment 'staging' yet"))
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
    }

    @Test
    void rolloutPromoteRunsToTheEndOrIsUnstableWhenPausedAgain() {
        CliFixture f = new CliFixture([[status: 0, json: PROMOTED], [status: 3, json: PAUSED]])
        f.h.callStep('mlopsRollout', [action: 'promote', full: true, timeout: 900])
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
        assertEquals('canary: v4 promoted in production', f.h.currentBuild.description)
        f.h.callStep('mlopsRollout', [action: 'promote'])

        assertEquals([['rollout', 'promote', '--env', 'production', '--full', '--timeout', '900', '--config',
            'mlops.yaml', '--output', 'json'],
            ['rollout', 'promote', '--env', 'production', '--config', 'mlops.yaml', '--output', 'json']],
            f.mlops.calls())
        assertEquals('UNSTABLE', f.h.currentBuild.currentResult)
        assertTrue('mlopsRollout never asks', f.h.inputs.isEmpty())
        assertFalse('mlopsRollout writes no report', new File(f.ws, 'mlops-out').exists())
    }

    @Test
    void rolloutResumeFailsWhenTheRolloutIsAbortedAndAbortsOnTimeout() {
        CliFixture f = new CliFixture([[status: 1, json: ABORTED]])
        BuildResult build = f.run("mlopsRollout(action: 'resume')")
        assertEquals('FAILURE', build.result)
        assertEquals('mlopsRollout: rollout of v4 aborted: error_rate 0.31 > 0.05 (max) on v4', build.error.message)

        CliFixture g = new CliFixture([[status: 4, json: PROGRESSING], [status: 0, json: ABORTED]])
        BuildResult timedOut = g.run("mlopsRollout(action: 'resume', environment: 'staging', timeout: 60)")
        assertEquals('FAILURE', timedOut.result)
        assertEquals([['rollout', 'resume', '--env', 'staging', '--timeout', '60', '--config', 'mlops.yaml', '--output',
            'json'], ['rollout', 'abort', '--env', 'staging', '--reason', 'timed out in Jenkins', '--config',
            'mlops.yaml', '--output', 'json']], g.mlops.calls())
    }

    @Test
    void rolloutAbortAndUndoReturnTheState() {
        Map undone = PROMOTED + [status: 'rolled_back', stable: '3']
        CliFixture f = new CliFixture([[status: 0, json: ABORTED], [status: 0, json: undone], [status: 2,
            json: [ok: false, error: 'nothing to undo in production']]])
        assertEquals('aborted', f.h.callStep('mlopsRollout', [action: 'abort']).status)
        assertEquals('3', f.h.callStep('mlopsRollout', [action: 'undo']).stable)
        assertEquals([['rollout', 'abort', '--env', 'production', '--config', 'mlops.yaml', '--output', 'json'],
            ['rollout', 'undo', '--env', 'production', '--config', 'mlops.yaml', '--output', 'json']], f.mlops.calls())
        try {
            f.h.callStep('mlopsRollout', [action: 'undo'])
            fail('exit 2 of undo must fail the step')
        } catch (AbortException e) {
            assertEquals('mlopsRollout: nothing to undo in production', e.message)
        }
    }

    // ------------------------------------------------------------------ mlopsPipeline's Deploy stage

    @Test
    void pipelineWithDeployRollsOutInsteadOfPromotingInTheRegistry() {
        // The rollout moves the registry alias itself, once the version serves 100%: no Promote stage.
        CliFixture f = new CliFixture([[status: 3, json: PAUSED], [status: 0, json: PROMOTED]])
        stubTrainingSteps(f.h)
        BuildResult build = f.h.runJenkinsfile("@Library('mlops') _\n" +
            "mlopsPipeline(approvers: 'ml-leads', deploy: [strategy: 'canary', timeout: 600])")

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals(['Set up', 'Data', 'Validate data', 'Train', 'Evaluate', 'Register', 'Approve', 'Deploy'],
            build.stagesRun)
        assertEquals([DEPLOY_V4, PROMOTE], f.mlops.calls())
        assertEquals([config: 'mlops.yaml', version: 4, approval: true, approvers: 'ml-leads', strategy: 'canary',
            timeout: 600], f.h.callsTo('mlopsDeploy')[0].named)
        assertEquals(['Promote iris v4 to production?', 'Promote v4 in production? reason: pause until promoted ' +
            '(traffic: v3 80%, v4 20%)'], f.h.inputs*.message)
        assertEquals(['ml-leads', 'ml-leads'], f.h.inputs*.submitter)
        assertEquals('canary: v4 promoted in production', build.description)
    }

    @Test
    void pipelineWithoutDeploySkipsTheStage() {
        CliFixture f = new CliFixture([[status: 0, json: [ok: true, name: 'iris', version: 4]]])
        stubTrainingSteps(f.h)
        BuildResult build = f.h.runJenkinsfile("@Library('mlops') _\nmlopsPipeline(approval: false)")

        assertEquals(build.log, 'SUCCESS', build.result)
        // The staging stages are declared too (declarative stages are static) and skipped without deploy.staging;
        // so is Monitor, without `monitor` (and in a build not started by the timer).
        assertEquals(['Monitor', 'Package', 'Approve', 'Deploy', 'Deploy to staging', 'Approve production',
            'Deploy to production'], build.stagesSkipped)
        assertTrue(f.h.callsTo('mlopsDeploy').isEmpty())
        assertEquals(1, f.mlops.calls().size())
    }

    @Test
    void pipelineRefusesAVersionInItsDeployArguments() {
        CliFixture f = new CliFixture([])
        BuildResult build = f.h.runJenkinsfile("@Library('mlops') _\nmlopsPipeline(deploy: [version: 3])")

        assertEquals('FAILURE', build.result)
        assertTrue(build.log, build.log.contains("mlopsPipeline: 'deploy' must not set 'version' or 'alias'"))
        assertEquals([], build.stagesRun)
    }

    // ------------------------------------------------------------------ helpers

    /** The pipeline's training stages stand in for themselves; Register hands over version 4. */
    static void stubTrainingSteps(PipelineHarness h) {
        ['mlopsSetup', 'mlopsData', 'mlopsValidateData', 'mlopsTrain', 'mlopsEvaluate'].each { name ->
            h.stubVar(name) { Map a -> [ok: true] }
        }
        h.stubVar('mlopsRegister') { Map a -> [name: 'iris', version: 4] }
    }

    private static Map report(CliFixture f) {
        return new groovy.json.JsonSlurperClassic().parseText(
            new File(f.ws, 'mlops-out/reports/deploy-production.json').text) as Map
    }

}
