import hudson.AbortException
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * mlopsDeploy and mlopsRollout with `target: 'kubernetes'`, `namespace` and `kubeconfigCredentialsId`,
 * and mlopsPipeline's staging → approval → production, against the MOCK `mlops` of MlopsDeployTest
 * (FakeMlops: canned answers, records each call's arguments and the content of the
 * file $KUBECONFIG named while it ran). Credentials are the harness's mock of Jenkins' credentials
 * store (h.credentials); `withCredentials` and `file(...)` are its mocks of those Jenkins steps.
 */
class KubernetesDeployTest {

    static final Map PAUSED = MlopsDeployTest.PAUSED
    static final Map PROMOTED = MlopsDeployTest.PROMOTED
    static final Map ABORTED = MlopsDeployTest.ABORTED
    static final Map STAGING_PROMOTED = PROMOTED + [env: 'staging', strategy: 'recreate', stable: '4',
        url: 'http://iris-staging.models-staging.svc']
    static final String PROD_KUBECONFIG = 'apiVersion: v1\nkind: Config\n# production cluster\n'
    static final String STAGING_KUBECONFIG = 'apiVersion: v1\nkind: Config\n# staging cluster\n'
    static final List KUBE_PROD = ['--set', 'deploy.target=kubernetes', '--set', 'deploy.kubernetes.namespace=models-prod']
    static final List KUBE_STAGING = ['--set', 'deploy.target=kubernetes', '--set',
        'deploy.kubernetes.namespace=models-staging']
    static final Map KUBECONFIG_BINDING = [symbol: 'file', credentialsId: 'kube-prod', variable: 'KUBECONFIG']
    static final Map KUBE_ARGS = [target: 'kubernetes', namespace: 'models-prod', kubeconfigCredentialsId: 'kube-prod']

    // ------------------------------------------------------------------ mlopsDeploy

    @Test
    void kubernetesDeployGetsTheTargetOnEveryCommandAndTheKubeconfigOnlyWhileACommandRuns() {
        CliFixture f = fixture([[status: 3, json: PAUSED], [status: 0, json: PROMOTED]])
        List<Map> asked = recordInputs(f)
        Map result = f.h.callStep('mlopsDeploy', KUBE_ARGS + [strategy: 'canary', version: 4, timeout: 600])

        assertEquals('promoted', result.status)
        assertEquals([['deploy', '--env', 'production', '--version', '4', '--strategy', 'canary', '--timeout', '600',
            '--config', 'mlops.yaml'] + KUBE_PROD + ['--output', 'json'],
            ['rollout', 'promote', '--env', 'production', '--timeout', '600', '--config', 'mlops.yaml'] + KUBE_PROD +
            ['--output', 'json']], f.mlops.calls())
        // The deploy and the promote after the approval each saw the kubeconfig; the approval did not hold it.
        assertEquals([PROD_KUBECONFIG, PROD_KUBECONFIG], f.mlops.kubeconfigs())
        assertEquals(1, asked.size())
        assertNull('KUBECONFIG must not be bound while a human decides', asked[0].kubeconfig)
        assertEquals([[KUBECONFIG_BINDING], [KUBECONFIG_BINDING]], f.h.callsTo('withCredentials')*.named*.bindings)
        assertEquals(['withCredentials', 'sh', 'input', 'withCredentials', 'sh'], f.h.calls*.step.findAll { step ->
            step in ['withCredentials', 'sh', 'input'] })
        assertFalse('the variable is gone after each command', f.h.env.containsKey('KUBECONFIG'))
        assertFalse('the kubeconfig never reaches the log', f.h.log.contains('production cluster'))
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
    }

    @Test
    void rejectedApprovalAbortsTheKubernetesRolloutWithTheKubeconfig() {
        CliFixture f = fixture([[status: 3, json: PAUSED], [status: 0, json: ABORTED]])
        List<Map> asked = recordInputs(f) { Map a -> true }
        BuildResult build = f.run("mlopsDeploy(target: 'kubernetes', namespace: 'models-prod', " +
            "kubeconfigCredentialsId: 'kube-prod', strategy: 'canary', version: 4)")

        assertEquals('ABORTED', build.result)
        assertEquals(['rollout', 'abort', '--env', 'production', '--reason', 'rejected in Jenkins by alice', '--config',
            'mlops.yaml'] + KUBE_PROD + ['--output', 'json'], f.mlops.calls()[1])
        assertEquals([PROD_KUBECONFIG, PROD_KUBECONFIG], f.mlops.kubeconfigs())
        assertNull(asked[0].kubeconfig)
        assertEquals(['withCredentials', 'sh', 'input', 'withCredentials', 'sh'], f.h.calls*.step.findAll { step ->
            step in ['withCredentials', 'sh', 'input'] })
    }

    @Test
    void timedOutKubernetesRolloutIsAbortedWithTheKubeconfig() {
        CliFixture f = fixture([[status: 4, json: MlopsDeployTest.PROGRESSING], [status: 0, json: ABORTED]])
        BuildResult build = f.run("mlopsDeploy(target: 'kubernetes', namespace: 'models-prod', " +
            "kubeconfigCredentialsId: 'kube-prod', timeout: 60)")

        assertEquals('FAILURE', build.result)
        assertEquals(['rollout', 'abort', '--env', 'production', '--reason', 'timed out in Jenkins', '--config',
            'mlops.yaml'] + KUBE_PROD + ['--output', 'json'], f.mlops.calls()[1])
        assertEquals([PROD_KUBECONFIG, PROD_KUBECONFIG], f.mlops.kubeconfigs())
    }

    @Test
    void targetAloneSetsNoNamespaceAndBindsNoCredentials() {
        CliFixture f = fixture([[status: 0, json: PROMOTED], [status: 0, json: PROMOTED]])
        f.h.callStep('mlopsDeploy', [target: 'kubernetes', set: ['deploy.kubernetes.replicas': 3]])
        f.h.callStep('mlopsDeploy', [target: 'local'])

        // `set` overrides first (sorted), then the target's.
        assertEquals([['deploy', '--env', 'production', '--config', 'mlops.yaml', '--set', 'deploy.kubernetes.replicas=3',
            '--set', 'deploy.target=kubernetes', '--output', 'json'],
            ['deploy', '--env', 'production', '--config', 'mlops.yaml', '--set', 'deploy.target=local', '--output',
             'json']], f.mlops.calls())
        assertEquals([null, null], f.mlops.kubeconfigs())
        assertEquals([[], []], f.h.callsTo('withCredentials')*.named*.bindings)
    }

    @Test
    void autoPromotePromotesEachPauseWithoutAsking() {
        Map stagingPaused = PAUSED + [env: 'staging']
        CliFixture f = fixture([[status: 3, json: stagingPaused], [status: 3, json: stagingPaused],
            [status: 0, json: PROMOTED + [env: 'staging']]])
        Map result = f.h.callStep('mlopsDeploy', KUBE_ARGS + [environment: 'staging', strategy: 'canary',
            autoPromote: true])

        assertEquals('promoted', result.status)
        assertTrue('autoPromote never asks', f.h.inputs.isEmpty())
        List promote = ['rollout', 'promote', '--env', 'staging', '--config', 'mlops.yaml'] + KUBE_PROD +
            ['--output', 'json']
        assertEquals([promote, promote], f.mlops.calls().drop(1))
        assertEquals([PROD_KUBECONFIG] * 3, f.mlops.kubeconfigs())
        assertTrue(f.h.log, f.h.log.contains('mlopsDeploy: v4 paused in staging: pause until promoted (traffic: ' +
            'v3 80%, v4 20%); promoting it without approval (autoPromote)'))
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
    }

    // ------------------------------------------------------------------ mlopsRollout

    @Test
    void rolloutActionsTakeTheSameTargetArgumentsAndKubeconfig() {
        CliFixture f = fixture([[status: 0, json: PAUSED], [status: 0, json: PROMOTED],
            [status: 0, json: ABORTED], [status: 0, json: PROMOTED + [status: 'rolled_back']],
            [status: 4, json: MlopsDeployTest.PROGRESSING], [status: 0, json: ABORTED]])
        f.h.callStep('mlopsRollout', KUBE_ARGS + [action: 'status'])
        f.h.callStep('mlopsRollout', KUBE_ARGS + [action: 'promote', full: true])
        f.h.callStep('mlopsRollout', KUBE_ARGS + [action: 'abort', reason: 'dashboard'])
        f.h.callStep('mlopsRollout', KUBE_ARGS + [action: 'undo'])
        try {
            f.h.callStep('mlopsRollout', KUBE_ARGS + [action: 'resume', timeout: 60])
            fail('a timed-out resume must fail the step')
        } catch (AbortException expected) {
            assertTrue(expected.message, expected.message.contains('timed out after 60 s'))
        }

        List tail = ['--config', 'mlops.yaml'] + KUBE_PROD + ['--output', 'json']
        assertEquals([['rollout', 'status', '--env', 'production'] + tail,
            ['rollout', 'promote', '--env', 'production', '--full'] + tail,
            ['rollout', 'abort', '--env', 'production', '--reason', 'dashboard'] + tail,
            ['rollout', 'undo', '--env', 'production'] + tail,
            ['rollout', 'resume', '--env', 'production', '--timeout', '60'] + tail,
            ['rollout', 'abort', '--env', 'production', '--reason', 'timed out in Jenkins'] + tail], f.mlops.calls())
        assertEquals([PROD_KUBECONFIG] * 6, f.mlops.kubeconfigs())
        assertEquals([[KUBECONFIG_BINDING]] * 6, f.h.callsTo('withCredentials')*.named*.bindings)
    }

    // ------------------------------------------------------------------ argument errors

    @Test
    void badTargetArgumentsAreRefusedNamingTheArgument() {
        String namespaceRule = "not a Kubernetes namespace name (a DNS-1123 label: at most 63 lowercase letters, " +
            "digits and '-', starting and ending with a letter or digit)"
        assertEquals("mlopsDeploy: argument 'namespace' is 'Prod_NS': ${namespaceRule}".toString(),
            MlopsTestSupport.refusal('mlopsDeploy', [target: 'kubernetes', namespace: 'Prod_NS']))
        String tooLong = 'n' * 64
        assertEquals("mlopsDeploy: argument 'namespace' is '${tooLong}': ${namespaceRule}".toString(),
            MlopsTestSupport.refusal('mlopsDeploy', [namespace: tooLong]))
        ['-models', 'models-', 'models.prod', ''].each { name ->
            assertTrue(name, MlopsTestSupport.refusal('mlopsDeploy', [namespace: name]).contains("argument 'namespace' is '${name}'"))
        }
        assertEquals("mlopsDeploy: argument 'namespace' only applies to target 'kubernetes', not 'local'; " +
            "argument 'kubeconfigCredentialsId' only applies to target 'kubernetes', not 'local'",
            MlopsTestSupport.refusal('mlopsDeploy', [target: 'local', namespace: 'models', kubeconfigCredentialsId: 'kube']))
        assertEquals("mlopsDeploy: argument 'target' is 'docker', allowed: local, kubernetes",
            MlopsTestSupport.refusal('mlopsDeploy', [target: 'docker']))
        assertEquals("mlopsDeploy: give argument 'target' or set 'deploy.target', not both; give argument " +
            "'namespace' or set 'deploy.kubernetes.namespace', not both",
            MlopsTestSupport.refusal('mlopsDeploy', [target: 'kubernetes', namespace: 'models',
                set: ['deploy.target': 'local', 'deploy.kubernetes.namespace': 'other']]))
        assertEquals("mlopsDeploy: argument 'kubeconfigCredentialsId' must not be empty",
            MlopsTestSupport.refusal('mlopsDeploy', [kubeconfigCredentialsId: ' ']))
        assertEquals("mlopsDeploy: argument 'autoPromote' promotes pauses without asking: drop 'approvers', " +
            "'approvalTimeout'", MlopsTestSupport.refusal('mlopsDeploy', [autoPromote: true, approvers: 'leads', approvalTimeout: 5]))
        // All at once, with the step's other checks.
        String several = MlopsTestSupport.refusal('mlopsDeploy', [target: 'local', namespace: 'Prod_NS', timeout: 0, kubeconfig: 'x'])
        ["unknown argument 'kubeconfig'", "argument 'timeout' must be at least 1",
         "argument 'namespace' is 'Prod_NS'", "argument 'namespace' only applies to target 'kubernetes'"].each { part ->
            assertTrue(several, several.contains(part))
        }
        // mlopsRollout checks the same arguments the same way.
        assertEquals("mlopsRollout: argument 'namespace' is 'Prod_NS': ${namespaceRule}".toString(),
            MlopsTestSupport.refusal('mlopsRollout', [action: 'status', namespace: 'Prod_NS']))
        assertEquals("mlopsRollout: argument 'namespace' only applies to target 'kubernetes', not 'local'",
            MlopsTestSupport.refusal('mlopsRollout', [action: 'abort', target: 'local', namespace: 'models']))
    }

    @Test
    void unknownCredentialsIdFailsBeforeTheCliRuns() {
        CliFixture f = fixture([[status: 0, json: PROMOTED]])
        BuildResult build = f.run("mlopsDeploy(target: 'kubernetes', kubeconfigCredentialsId: 'kube-typo')")

        assertEquals('FAILURE', build.result)
        assertEquals("Could not find credentials entry with ID 'kube-typo'", build.error.message)
        assertTrue(f.mlops.calls().isEmpty())
    }

    // ------------------------------------------------------------------ mlopsPipeline: staging → approval → production

    @Test
    void pipelineDeploysToStagingAsksThenRollsOutToProduction() {
        CliFixture f = fixture([[status: 0, json: STAGING_PROMOTED], [status: 3, json: PAUSED],
            [status: 0, json: PROMOTED]])
        List<Map> asked = recordInputs(f)
        MlopsDeployTest.stubTrainingSteps(f.h)
        BuildResult build = f.h.runJenkinsfile("@Library('mlops') _\n" + '''mlopsPipeline(approvers: 'ml-leads',
            deploy: [strategy: 'canary', target: 'kubernetes', namespace: 'models-prod', kubeconfigCredentialsId: 'kube-prod',
                timeout: 600, staging: [namespace: 'models-staging', kubeconfigCredentialsId: 'kube-staging']])''')

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals(['Set up', 'Data', 'Validate data', 'Train', 'Evaluate', 'Register', 'Deploy to staging',
            'Approve production', 'Deploy to production'], build.stagesRun)
        assertEquals(['Monitor', 'Package', 'Approve', 'Promote', 'Deploy'], build.stagesSkipped)
        // Staging: its environment, namespace, strategy and kubeconfig; production: the rest of `deploy`.
        assertEquals([['deploy', '--env', 'staging', '--version', '4', '--strategy', 'recreate', '--timeout', '600',
            '--config', 'mlops.yaml'] + KUBE_STAGING + ['--output', 'json'],
            ['deploy', '--env', 'production', '--version', '4', '--strategy', 'canary', '--timeout', '600', '--config',
             'mlops.yaml'] + KUBE_PROD + ['--output', 'json'],
            ['rollout', 'promote', '--env', 'production', '--timeout', '600', '--config', 'mlops.yaml'] + KUBE_PROD +
            ['--output', 'json']], f.mlops.calls())
        assertEquals([STAGING_KUBECONFIG, PROD_KUBECONFIG, PROD_KUBECONFIG], f.mlops.kubeconfigs())
        assertEquals([[config: 'mlops.yaml', target: 'kubernetes', timeout: 600, environment: 'staging',
            strategy: 'recreate', autoPromote: true, version: 4, namespace: 'models-staging',
            kubeconfigCredentialsId: 'kube-staging'],
            [config: 'mlops.yaml', approval: true, approvers: 'ml-leads', version: 4, strategy: 'canary',
             target: 'kubernetes', namespace: 'models-prod', kubeconfigCredentialsId: 'kube-prod', timeout: 600]],
            f.h.callsTo('mlopsDeploy')*.named)
        // The production approval comes after staging and before production; then the rollout's own pause.
        assertEquals(['Promote iris v4 to production? It is live in staging (namespace models-staging) at ' +
            'http://iris-staging.models-staging.svc.', 'Promote v4 in production? reason: pause until promoted ' +
            '(traffic: v3 80%, v4 20%)'], asked*.message)
        assertEquals([1, 2], asked*.mlopsCalls)
        assertEquals(['ml-leads', 'ml-leads'], asked*.submitter)
        assertEquals([null, null], asked*.kubeconfig)
        assertTrue(new File(f.ws, 'mlops-out/reports/deploy-staging.json').isFile())
        assertTrue(new File(f.ws, 'mlops-out/reports/deploy-production.json').isFile())
        assertEquals('canary: v4 promoted in production', build.description)
    }

    @Test
    void rejectingTheProductionApprovalLeavesProductionUntouched() {
        CliFixture f = fixture([[status: 0, json: STAGING_PROMOTED]])
        List<Map> asked = recordInputs(f) { Map a -> a.message.contains('to production?') }
        MlopsDeployTest.stubTrainingSteps(f.h)
        BuildResult build = f.h.runJenkinsfile("@Library('mlops') _\n" + '''mlopsPipeline(approvers: 'ml-leads',
            deploy: [target: 'kubernetes', kubeconfigCredentialsId: 'kube-prod', staging: [namespace: 'models-staging']])''')

        assertEquals(build.log, 'ABORTED', build.result)
        assertEquals(['Deploy to staging', 'Approve production'], build.stagesRun.drop(6))
        assertFalse(build.stagesRun.contains('Deploy to production'))
        assertEquals(1, asked.size())
        // Only the staging rollout ran (with deploy's kubeconfig, as staging names none); no `deploy --env production`.
        assertEquals([['deploy', '--env', 'staging', '--version', '4', '--strategy', 'recreate', '--config',
            'mlops.yaml'] + KUBE_STAGING + ['--output', 'json']], f.mlops.calls())
        assertFalse(f.mlops.calls().any { words -> words.take(3) == ['deploy', '--env', 'production'] })
        assertEquals([PROD_KUBECONFIG], f.mlops.kubeconfigs())
        assertEquals(1, f.h.callsTo('mlopsDeploy').size())
        assertEquals('iris v4 in staging, not promoted to production (rejected in Jenkins by alice)', build.description)
        assertTrue(build.log, build.log.contains('mlopsPipeline: iris v4 not promoted to production (rejected in ' +
            'Jenkins by alice); production is unchanged, staging keeps the new version'))
    }

    @Test
    void stagingPausesArePromotedWithoutAskingAndApprovalFalseSkipsTheProductionApproval() {
        Map stagingPaused = PAUSED + [env: 'staging']
        CliFixture f = fixture([[status: 3, json: stagingPaused], [status: 0, json: STAGING_PROMOTED],
            [status: 0, json: PROMOTED]])
        MlopsDeployTest.stubTrainingSteps(f.h)
        BuildResult build = f.h.runJenkinsfile("@Library('mlops') _\n" + '''mlopsPipeline(approval: false,
            deploy: [strategy: 'canary', staging: [environment: 'qa', strategy: 'canary']])''')

        assertEquals(build.log, 'SUCCESS', build.result)
        assertTrue('nobody is asked', f.h.inputs.isEmpty())
        assertEquals(['Deploy to staging', 'Deploy to production'], build.stagesRun.drop(6))
        assertEquals([['deploy', '--env', 'qa', '--version', '4', '--strategy', 'canary', '--config', 'mlops.yaml',
            '--output', 'json'], ['rollout', 'promote', '--env', 'qa', '--config', 'mlops.yaml', '--output', 'json'],
            ['deploy', '--env', 'production', '--version', '4', '--strategy', 'canary', '--config', 'mlops.yaml',
             '--output', 'json']], f.mlops.calls())
        assertEquals([null, null, null], f.mlops.kubeconfigs())
    }

    @Test
    void pipelineRefusesBadStagingArgumentsBeforeAnyStage() {
        assertEquals("mlopsPipeline: deploy.staging: unknown argument 'namespce' (allowed: environment, " +
            'kubeconfigCredentialsId, namespace, strategy)',
            pipelineFailure("[target: 'kubernetes', staging: [namespce: 'models-staging']]"))
        assertEquals("mlopsPipeline: deploy.staging: argument 'namespace' is 'Prod_NS': not a Kubernetes namespace " +
            "name (a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter " +
            'or digit)', pipelineFailure("[target: 'kubernetes', staging: [namespace: 'Prod_NS']]"))
        assertEquals("mlopsPipeline: deploy.staging: argument 'namespace' only applies to target 'kubernetes', " +
            "not 'local'", pipelineFailure("[target: 'local', staging: [namespace: 'models-staging']]"))
        assertEquals("mlopsPipeline: deploy.staging: argument 'strategy' is 'linear', allowed: recreate, ramped, " +
            'bluegreen, canary, abtest', pipelineFailure("[staging: [strategy: 'linear']]"))
        assertEquals("mlopsPipeline: argument 'deploy.staging' must be a Map, got String 'models-staging'",
            pipelineFailure("[staging: 'models-staging']"))
        assertEquals("mlopsPipeline: deploy.staging: 'environment' is 'production', the environment 'deploy' rolls " +
            'out to; staging needs an environment of its own', pipelineFailure("[staging: [environment: 'production']]"))
        // A mistake in the production arguments is found now too, not after the staging rollout.
        String production = pipelineFailure("[stratgy: 'canary', staging: [:]]")
        assertTrue(production, production.startsWith("mlopsPipeline: deploy: unknown argument 'stratgy' (allowed: "))
    }

    @Test
    void theStagingExampleOfTheHelpPageRuns() {
        String page = new File(MlopsTestSupport.repoRoot(), 'vars/mlopsPipeline.txt').text
        String example = (page =~ /(?s)```groovy\n(@Library[^`]*?staging: \[[^`]*?)```/)[0][1]
        CliFixture f = fixture([[status: 0, json: STAGING_PROMOTED], [status: 0, json: PROMOTED]])
        f.h.credentials['kubeconfig-prod'] = PROD_KUBECONFIG
        f.h.credentials['kubeconfig-staging'] = STAGING_KUBECONFIG
        List<Map> asked = recordInputs(f)
        MlopsDeployTest.stubTrainingSteps(f.h)
        BuildResult build = f.h.runJenkinsfile(example)

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals(['Deploy to staging', 'Approve production', 'Deploy to production'], build.stagesRun.drop(6))
        assertEquals([['deploy', '--env', 'staging', '--version', '4', '--strategy', 'recreate', '--timeout', '3600',
            '--config', 'mlops.yaml'] + KUBE_STAGING + ['--output', 'json'],
            ['deploy', '--env', 'production', '--version', '4', '--strategy', 'canary', '--timeout', '3600', '--config',
             'mlops.yaml'] + KUBE_PROD + ['--output', 'json']], f.mlops.calls())
        assertEquals([STAGING_KUBECONFIG, PROD_KUBECONFIG], f.mlops.kubeconfigs())
        assertEquals(['ml-leads'], asked*.submitter)
    }

    // ------------------------------------------------------------------ helpers

    /** A MlopsDeployTest fixture whose credentials store (mock) holds the production and staging kubeconfigs. */
    private static CliFixture fixture(List<Map> answers) {
        CliFixture f = new CliFixture(answers)
        f.h.credentials['kube-prod'] = PROD_KUBECONFIG
        f.h.credentials['kube-staging'] = STAGING_KUBECONFIG
        return f
    }

    /**
     * Replaces the harness's `input` with one that records, for each request, its message and
     * submitter, whether KUBECONFIG was bound, and how many `mlops` calls had run; `reject` decides
     * which requests alice rejects (Jenkins' FlowInterruptedException, as the real step throws).
     */
    private static List<Map> recordInputs(CliFixture f, Closure reject = { Map a -> false }) {
        List<Map> asked = []
        f.h.stubStep('input') { Map a ->
            asked << [message: a.message.toString(), submitter: a.submitter, kubeconfig: f.h.env.KUBECONFIG,
                mlopsCalls: f.mlops.calls().size()]
            if (reject.call(a)) {
                throw new FlowInterruptedException('ABORTED', 'Rejected by alice')
            }
            return null
        }
        return asked
    }

    /** mlopsPipeline with this `deploy` Map must fail before its first stage; returns the error. */
    private static String pipelineFailure(String deploy) {
        CliFixture f = fixture([])
        BuildResult build = f.h.runJenkinsfile("@Library('mlops') _\nmlopsPipeline(deploy: ${deploy})")
        assertEquals(build.log, 'FAILURE', build.result)
        assertEquals([], build.stagesRun)
        assertTrue(f.mlops.calls().isEmpty())
        return build.error.message
    }

}
