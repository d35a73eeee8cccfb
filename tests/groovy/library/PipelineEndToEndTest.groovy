import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertTrue

/**
 * Users' Jenkinsfiles run end to end in the harness: the steps call the real `mlops` CLI
 * (sh really runs), on a project made by `mlops init`, with real git and DVC.
 */
class PipelineEndToEndTest {

    static final File EXAMPLES = new File(MlopsTestSupport.repoRoot(), 'examples/jenkins')

    @Test
    void oneLineJenkinsfileTrainsRegistersAndPromotesAfterApproval() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        BuildResult result = h.runJenkinsfile(new File(EXAMPLES, 'Jenkinsfile'))

        assertEquals(result.log, 'SUCCESS', result.result)
        assertEquals(['Set up', 'Data', 'Validate data', 'Train', 'Evaluate', 'Register', 'Approve', 'Promote'],
            result.stagesRun)
        assertEquals(['Monitor', 'Package', 'Deploy', 'Deploy to staging', 'Approve production', 'Deploy to production'],
            result.stagesSkipped)
        Map production = MlopsTestSupport.mlopsJson(ws, ['registry', 'show', '@production'])
        assertEquals(1, production.version)
        assertEquals('breast-cancer v1 in production', result.description)
        assertEquals(['Promote breast-cancer v1 to production?'], h.inputs*.message)
        assertEquals('ml-leads', h.inputs[0].submitter)
        // Jenkins features: JUnit per column (30 features, the target, the table) and per gate; the model archived.
        assertTrue(h.junitReports.any { report -> report.file.endsWith('data-validation.xml') && report.tests == 32 })
        assertTrue(h.junitReports.any { report -> report.file.endsWith('evaluation.xml') && report.failures == 0 })
        assertTrue(h.archived.contains('mlops-out/model/model.joblib'))
        assertEquals(['HYPERPARAMETERS', 'DATA_REV'], h.declarative.parameters*.name)
    }

    @Test
    void failingGateFailsTheBuildWithItsReasonAndRegistersNothing() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.params.HYPERPARAMETERS = 'validation.gates.0.min=0.999'
        BuildResult result = h.runJenkinsfile(new File(EXAMPLES, 'Jenkinsfile'))

        assertEquals('FAILURE', result.result)
        assertTrue(result.description,
            result.description ==~ /mlopsEvaluate: gate failed: accuracy 0\.\d+ is below the minimum 0\.999 \(short by 0\.\d+\)/)
        assertEquals(['Register', 'Approve', 'Promote'], result.stagesSkipped.findAll { it in ['Register', 'Approve', 'Promote'] })
        assertFalse(new File(ws, 'registry').exists())
        assertTrue(h.junitReports.any { report -> report.file.endsWith('evaluation.xml') && report.failures == 1 })
    }

    @Test
    void unstableGateModeFinishesUnstableWithoutRegistering() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.params.HYPERPARAMETERS = 'validation.gates.0.min=0.999'
        BuildResult result = h.runJenkinsfile("@Library('mlops') _\nmlopsPipeline(onGateFailure: 'UNSTABLE')")

        assertEquals('UNSTABLE', result.result)
        assertTrue(result.log.contains('the model is not registered'))
        assertFalse(new File(ws, 'registry').exists())
    }

    @Test
    void retrainingParametersReachTheModel() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.params.HYPERPARAMETERS = 'training.params.max_depth=3\ntraining.params.n_estimators=25'
        BuildResult result = h.runJenkinsfile("@Library('mlops') _\nmlopsPipeline(approval: false)")

        assertEquals(result.log, 'SUCCESS', result.result)
        assertTrue('no approval asked', h.inputs.isEmpty())
        Map model = MlopsTestSupport.mlopsJson(ws, ['registry', 'show', '@production'])
        assertEquals(3, model.metadata.params.max_depth)
        assertEquals(25, model.metadata.params.n_estimators)
    }

    @Test
    void malformedHyperparametersFailWithTheItemNamed() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.params.HYPERPARAMETERS = 'training.params.max_depth'
        BuildResult result = h.runJenkinsfile(new File(EXAMPLES, 'Jenkinsfile'))

        assertEquals('FAILURE', result.result)
        assertTrue(result.log.contains('HYPERPARAMETERS items [training.params.max_depth] are not KEY.PATH=VALUE'))
    }

    @Test
    void rejectedApprovalAbortsAndLeavesTheModelInStaging() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.inputResponse = 'abort'
        BuildResult result = h.runJenkinsfile(new File(EXAMPLES, 'Jenkinsfile'))

        assertEquals('ABORTED', result.result)
        Map aliases = MlopsTestSupport.mlopsJson(ws, ['registry', 'show', '@staging'])
        assertEquals(['staging'], aliases.stages)
        assertFalse(result.stagesRun.contains('Promote'))
    }

    @Test
    void customJenkinsfileWithIndividualStepsRegistersTheBetterCandidate() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.disableStep('readJSON')  // without Pipeline Utility Steps the library parses JSON itself
        BuildResult result = h.runJenkinsfile(new File(EXAMPLES, 'Jenkinsfile.custom'))

        assertEquals(result.log, 'SUCCESS', result.result)
        assertTrue(new File(ws, 'candidates/depth-2/model/model.joblib').isFile())
        assertTrue(new File(ws, 'candidates/depth-8/model/model.joblib').isFile())
        Map staging = MlopsTestSupport.mlopsJson(ws, ['registry', 'show', '@staging'])
        assertEquals(1, staging.version)
        assertTrue(result.log.contains('registered breast-cancer v1'))
    }

    @Test
    void packagingArgumentsAddAPackageStageForTheRegisteredVersion() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.stubVar('mlopsPackage') { Map args -> [image: 'r.example/breast-cancer', digest: 'sha256:feed', pushed: true, args: args] }
        BuildResult result = h.runJenkinsfile("@Library('mlops') _\nmlopsPipeline(approval: false, packaging: [registry: 'r.example'])")

        assertEquals(result.log, 'SUCCESS', result.result)
        assertTrue(result.stagesRun.contains('Package'))
        Map call = h.calls.find { c -> c.step == 'mlopsPackage' }
        assertEquals([config: 'mlops.yaml', model: '@1', registry: 'r.example'], call.named)
    }

    @Test
    void kubernetesAgentUsesThePodTemplateFromTheLibraryResources() {
        File ws = MlopsTestSupport.initProject()
        PipelineHarness h = MlopsTestSupport.harness(ws)
        BuildResult result = h.runJenkinsfile("@Library('mlops') _\nmlopsPipeline(agent: 'kubernetes', approval: false)")

        assertEquals(result.log, 'SUCCESS', result.result)
        String podYaml = new File(MlopsTestSupport.repoRoot(), 'resources/org/mlops/jenkins/agent-pod.yaml').text
        assertEquals(podYaml, h.declarative.agent.kubernetes.yaml)
        assertEquals('mlops', h.declarative.agent.kubernetes.defaultContainer)
    }

    @Test
    void dataRevParameterTrainsOnTheDataOfThatCommit() {
        File ws = MlopsTestSupport.initProject()
        String firstCommit = MlopsTestSupport.run(['git', 'rev-parse', 'HEAD'], ws).trim()
        File data = new File(ws, 'data/breast_cancer.csv')
        List<String> lines = data.readLines()
        data.text = lines.subList(0, 301).join('\n') + '\n'
        MlopsTestSupport.run([new File(MlopsTestSupport.venvBin(), 'mlops').path, 'data', 'add'], ws)
        MlopsTestSupport.run([new File(MlopsTestSupport.venvBin(), 'mlops').path, 'data', 'push'], ws)
        MlopsTestSupport.run(['git', 'commit', '-qm', 'fewer rows'], ws)

        PipelineHarness h = MlopsTestSupport.harness(ws)
        h.params.DATA_REV = firstCommit
        BuildResult result = h.runJenkinsfile("@Library('mlops') _\nmlopsPipeline(approval: false)")

        assertEquals(result.log, 'SUCCESS', result.result)
        Map model = MlopsTestSupport.mlopsJson(ws, ['registry', 'show', '@production'])
        assertEquals(569, model.metadata.rows.train + model.metadata.rows.holdout)
    }

}
