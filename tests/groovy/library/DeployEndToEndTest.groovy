import org.junit.After
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertTrue

/**
 * mlopsPipeline with a Deploy stage, end to end in the harness with the real `mlops` CLI: the
 * first build puts v1 live on the local backend, the second rolls v2 out as a canary whose
 * analyses have no traffic to measure, so the rollout pauses twice and each pause becomes an
 * `input` (approved by the harness) followed by `mlops rollout promote`.
 */
class DeployEndToEndTest {

    File ws
    Map<String, Object> ports

    @After
    void stopTheEnvironment() {
        if (ws != null) {
            MlopsTestSupport.run([new File(MlopsTestSupport.venvBin(), 'mlops').path, 'undeploy'] +
                ports.collectMany { key, value -> ['--set', "${key}=${value}".toString()] }, ws)
        }
    }

    @Test
    void pipelineDeploysThenRollsTheNextVersionOutThroughTwoApprovedPauses() {
        ws = MlopsTestSupport.initProject()
        ports = ['deploy.local.port': freePort(), 'deploy.local.admin_port': freePort()]
        Map overrides = ports + ['deploy.analysis.interval': '0.5s', 'deploy.analysis.count': 1,
                                 'deploy.local.replicas': 1]
        String jenkinsfile = "@Library('mlops') _\nmlopsPipeline(approval: false, deploy: [approval: true, set: ${groovyMap(overrides)}])"

        PipelineHarness first = MlopsTestSupport.harness(ws)
        BuildResult one = first.runJenkinsfile(jenkinsfile)
        assertEquals(tail(one.log), 'SUCCESS', one.result)
        assertEquals('canary: v1 promoted in production', one.description)

        PipelineHarness second = MlopsTestSupport.harness(ws)
        second.params.HYPERPARAMETERS = 'training.params.n_estimators=40'
        BuildResult two = second.runJenkinsfile(jenkinsfile)
        assertEquals(tail(two.log), 'SUCCESS', two.result)
        assertEquals('canary: v2 promoted in production', two.description)
        assertEquals(2, second.inputs.size())
        assertTrue(second.inputs[0].message, second.inputs[0].message.contains('analysis inconclusive'))
        Map status = MlopsTestSupport.mlopsJson(ws, ['rollout', 'status'] +
            overrides.collectMany { key, value -> ['--set', "${key}=${value}".toString()] })
        assertEquals('promoted', status.status)
        assertEquals(['2': 100], status.weights)
        assertEquals(2, MlopsTestSupport.mlopsJson(ws, ['registry', 'show', '@production']).version)
    }

    /** The end of a build log: where a failure is explained. */
    private static String tail(String log) {
        return log.readLines().takeRight(40).join('\n')
    }

    private static int freePort() {
        ServerSocket socket = new ServerSocket(0)
        try {
            return socket.localPort
        } finally {
            socket.close()
        }
    }

    private static String groovyMap(Map values) {
        return '[' + values.collect { key, value -> "'${key}': '${value}'" }.join(', ') + ']'
    }

}
