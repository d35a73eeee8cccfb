import hudson.AbortException
import org.jenkinsci.plugins.workflow.steps.MissingContextVariableException
import org.junit.Before
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder

/** The harness's Declarative Pipeline: sections, stage flow, when, post, environment, agents. */
class DeclarativeSelfTest {

    @Rule
    public TemporaryFolder tmp = new TemporaryFolder()

    PipelineHarness h

    @Before
    void setUp() {
        h = new PipelineHarness(new File(PipelineHarness.repoRoot(), 'tests/groovy/fixtures/lib'), tmp.newFolder('ws'))
    }

    /** Line numbers of each text in the log, in the order given; fails if one is missing. */
    private static List<Integer> positions(String log, List<String> texts) {
        List<String> lines = log.readLines()
        return texts.collect { String t ->
            int i = lines.findIndexOf { it == t }
            assert i >= 0: "'${t}' not in the log:\n${log}"
            i
        }
    }

    @Test
    void failingStageSkipsTheRestAndPostRunsInJenkinsOrder() {
        BuildResult r = h.runJenkinsfile('''
            pipeline {
                agent any
                stages {
                    stage('A') { steps { echo 'in A' } }
                    stage('B') {
                        steps { error 'broken' }
                        post {
                            failure { echo 'B:failure' }
                            success { echo 'B:success' }
                        }
                    }
                    stage('C') { steps { echo 'in C' } }
                }
                post {
                    cleanup { echo 'P:cleanup' }
                    success { echo 'P:success' }
                    failure { echo 'P:failure' }
                    unsuccessful { echo 'P:unsuccessful' }
                    always { echo 'P:always' }
                }
            }
        ''')
        assert r.result == 'FAILURE'
        assert r.stagesRun == ['A', 'B']
        assert r.stagesSkipped == ['C']
        assert r.error instanceof AbortException
        assert !r.log.contains('in C')
        assert !r.log.contains('P:success') && !r.log.contains('B:success')
        assert r.log.contains('Stage "C" skipped due to earlier failure(s)')
        List<Integer> order = positions(r.log, ['B:failure', 'P:always', 'P:failure', 'P:unsuccessful', 'P:cleanup',
            'ERROR: broken', 'Finished: FAILURE'])
        assert order == order.sort(false)
    }

    @Test
    void whenSkipsStagesAndDeclaredParametersFillDefaults() {
        BuildResult r = h.runJenkinsfile("@Library('mlops') _\nfixturePipeline()")
        assert r.result == 'SUCCESS': r.log
        assert r.stagesRun == ['Build']
        assert r.stagesSkipped == ['Approve', 'Deploy']
        assert r.log.contains('Stage "Approve" skipped due to when conditional')
        assert h.params == [GREETING: 'hi', DEPLOY: false, TARGET: 'staging']
        assert h.env.GREETING == 'hi' && h.env.DEPLOY == 'false'
        assert r.log.contains('hello hi')
        assert r.log.contains('post always (pipeline)')
        assert !h.env.containsKey('FIXTURE_MODE')        // the pipeline's environment ends with it
        assert h.declarative.agent == [label: 'linux']
        assert h.declarative.options.timeout == [time: 30, unit: 'MINUTES']
        assert h.declarative.options.buildDiscarder.numToKeepStr == '10'
        assert h.declarative.options.timestamps == true
        assert h.declarative.triggers == [cron: 'H 2 * * *']
        assert h.declarative.parameters*.name == ['GREETING', 'DEPLOY', 'TARGET']
        assert h.declarative.parameters[2] == [type: 'choice', name: 'TARGET', choices: ['staging', 'production'],
            description: 'where to']
        assert h.declarative.environment == [FIXTURE_MODE: 'pipeline']
        assert h.declarative.stages == ['Build', 'Approve', 'Deploy']
        // A stage skipped by `when` is still entered (and shown) in Jenkins: its call is recorded.
        assert h.calls.findAll { it.step == 'stage' }*.args == ['Build', 'Approve', 'Deploy']
    }

    @Test
    void parametersGivenByTheTestWinAndInputProceeds() {
        h.params.DEPLOY = true
        h.params.TARGET = 'production'
        BuildResult r = h.runJenkinsfile('fixturePipeline()')
        assert r.result == 'SUCCESS': r.log
        assert r.stagesRun == ['Build', 'Approve', 'Deploy']
        assert h.params.GREETING == 'hi'
        assert h.inputs*.message == ['Deploy to production?']
        assert h.inputs[0].ok == 'Deploy'
        assert r.log.contains('deploying to production')
        List<Integer> order = positions(r.log, ['post always (pipeline)', 'post success', 'post cleanup'])
        assert order == order.sort(false)
    }

    @Test
    void inputAbortAbortsTheBuild() {
        h.params.DEPLOY = true
        h.inputResponse = 'abort'
        BuildResult r = h.runJenkinsfile('fixturePipeline()')
        assert r.result == 'ABORTED'
        assert r.stagesRun == ['Build', 'Approve']
        assert r.stagesSkipped == ['Deploy']
        assert r.log.contains('Rejected by tester')
        assert r.log.contains('post aborted')
        assert !r.log.contains('post success')
        assert r.log.readLines()[-2] == 'post cleanup' || r.log.readLines().findLastIndexOf { it == 'post cleanup' } >
            r.log.readLines().findLastIndexOf { it == 'post aborted' }
        assert r.log.trim().endsWith('Finished: ABORTED')
    }

    @Test
    void junitFailuresAndCurrentBuildResultMakeTheBuildUnstable() {
        new File(h.workspace, 'report.xml').text =
            '<testsuite tests="1"><testcase name="t"><failure message="x"/></testcase></testsuite>'
        BuildResult r = h.runJenkinsfile('''
            pipeline {
                agent any
                stages {
                    stage('Test') {
                        steps { junit 'report.xml' }
                        post { unstable { echo 'Test:unstable' } }
                    }
                    stage('Later') { steps { echo 'later runs' } }
                }
                post {
                    unstable { echo 'P:unstable' }
                    success { echo 'P:success' }
                }
            }
        ''')
        assert r.result == 'UNSTABLE'
        assert r.stagesRun == ['Test', 'Later']
        assert r.log.contains('Test:unstable') && r.log.contains('P:unstable') && r.log.contains('later runs')
        assert !r.log.contains('P:success')

        PipelineHarness other = new PipelineHarness(h.libraryRoot, tmp.newFolder('ws2'))
        BuildResult set = other.runJenkinsfile('''
            pipeline {
                agent any
                stages { stage('S') { steps { script { currentBuild.result = 'UNSTABLE' } } } }
                post { unstable { echo 'P:unstable' } }
            }
        ''')
        assert set.result == 'UNSTABLE'
        assert set.log.contains('P:unstable')
    }

    @Test
    void skipStagesAfterUnstableOption() {
        BuildResult r = h.runJenkinsfile('''
            pipeline {
                agent any
                options { skipStagesAfterUnstable() }
                stages {
                    stage('A') { steps { unstable 'flaky' } }
                    stage('B') { steps { echo 'B' } }
                }
            }
        ''')
        assert r.result == 'UNSTABLE'
        assert r.stagesSkipped == ['B']
        assert r.log.contains('Stage "B" skipped due to earlier stage(s) marking the build as unstable')
    }

    @Test
    void errorInAPostConditionFailsTheBuildAndLaterConditionsStillRun() {
        BuildResult r = h.runJenkinsfile('''
            pipeline {
                agent any
                stages { stage('A') { steps { echo 'a' } } }
                post {
                    always { error 'post broke' }
                    success { echo 'P:success' }
                    failure { echo 'P:failure' }
                    cleanup { echo 'P:cleanup' }
                }
            }
        ''')
        assert r.result == 'FAILURE'
        assert r.log.contains('Error when executing always post condition:')
        assert r.log.contains('P:failure') && r.log.contains('P:cleanup')
        assert !r.log.contains('P:success')
    }

    @Test
    void environmentBlocksAndCredentials() {
        h.credentials.token = 'tok-123456'
        h.credentials.login = [username: 'deployer', password: 'pw-987654']
        h.env.BRANCH_NAME = 'main'
        BuildResult r = h.runJenkinsfile('''
            pipeline {
                agent any
                environment {
                    BASE = 'base'
                    DERIVED = "${BASE}-derived-${env.BUILD_NUMBER}"
                    TOKEN = credentials('token')
                    LOGIN = credentials('login')
                }
                stages {
                    stage('Env') {
                        environment { STAGE_ONLY = 'yes' }
                        when {
                            allOf {
                                branch 'ma*'
                                environment name: 'STAGE_ONLY', value: 'yes'
                                not { expression { env.BASE == 'other' } }
                                anyOf { changeRequest(); expression { true } }
                            }
                        }
                        steps {
                            echo "${env.DERIVED} ${STAGE_ONLY} ${LOGIN_USR}"
                            sh 'echo "token $TOKEN login $LOGIN_PSW"'
                        }
                    }
                    stage('After') {
                        steps { echo "after: ${env.STAGE_ONLY}" }
                    }
                }
            }
        ''')
        assert r.result == 'SUCCESS': r.log
        assert r.log.contains('base-derived-1 yes deployer')
        assert r.log.contains('token **** login ****')
        assert !r.log.contains('tok-123456') && !r.log.contains('pw-987654')
        assert r.log.contains('after: null')
        assert h.declarative.environment.TOKEN == "credentials('token')"
        ['BASE', 'DERIVED', 'TOKEN', 'LOGIN', 'LOGIN_USR', 'LOGIN_PSW', 'STAGE_ONLY'].each {
            assert !h.env.containsKey(it)
        }
    }

    @Test
    void agentNoneNeedsAStageAgentForWorkspaceSteps() {
        BuildResult r = h.runJenkinsfile('''
            pipeline {
                agent none
                stages {
                    stage('On agent') {
                        agent { label 'linux' }
                        steps { sh 'true' }
                    }
                    stage('Nowhere') { steps { sh 'true' } }
                }
            }
        ''')
        assert r.result == 'FAILURE'
        assert r.stagesRun == ['On agent', 'Nowhere']
        assert r.error instanceof MissingContextVariableException
        assert h.declarative.agent == [none: true]
        assert h.declarative.stageAgents == ['On agent': [label: 'linux']]
    }

    @Test
    void kubernetesAgentIsRecorded() {
        BuildResult r = h.runJenkinsfile('''
            String podYaml = libraryResource('org/fixture/greeting.txt')
            pipeline {
                agent {
                    kubernetes {
                        yaml podYaml
                        defaultContainer 'mlops'
                    }
                }
                stages { stage('S') { steps { sh 'true' } } }
            }
        ''')
        assert r.result == 'SUCCESS': r.log
        assert h.declarative.agent == [kubernetes: [yaml: 'hello from a library resource\n', defaultContainer: 'mlops']]
    }

    @Test
    void parallelAndNestedStages() {
        BuildResult r = h.runJenkinsfile('''
            pipeline {
                agent any
                stages {
                    stage('Fan out') {
                        parallel {
                            stage('Left') { steps { error 'left failed' } }
                            stage('Right') { steps { echo 'right ran' } }
                        }
                    }
                    stage('Sequence') {
                        stages {
                            stage('One') { steps { echo 'one' } }
                        }
                    }
                }
            }
        ''')
        assert r.result == 'FAILURE'
        assert r.stagesRun == ['Fan out', 'Left', 'Right']
        assert r.stagesSkipped == ['Sequence', 'One']
        assert r.log.contains('right ran')
    }

    @Test
    void stageInputDirectiveSetsItsParametersAsEnv() {
        h.inputValues.WHO = 'ops'
        BuildResult r = h.runJenkinsfile('''
            pipeline {
                agent any
                stages {
                    stage('Ask') {
                        input {
                            message 'Who deploys?'
                            ok 'Go'
                            parameters { string(name: 'WHO', defaultValue: 'me') }
                        }
                        steps { echo "deployer ${WHO}" }
                    }
                }
            }
        ''')
        assert r.result == 'SUCCESS': r.log
        assert r.log.contains('deployer ops')
        assert h.inputs[0].message == 'Who deploys?'
    }

    @Test
    void invalidPipelinesFail() {
        BuildResult noAgent = h.runJenkinsfile("pipeline { stages { stage('A') { steps { echo 'a' } } } }")
        assert noAgent.result == 'FAILURE'
        assert noAgent.error.message.contains("Missing required section 'agent'")

        PipelineHarness twice = new PipelineHarness(h.libraryRoot, tmp.newFolder('ws2'))
        BuildResult r = twice.runJenkinsfile('''
            pipeline { agent any; stages { stage('A') { steps { echo 'a' } } } }
            pipeline { agent any; stages { stage('B') { steps { echo 'b' } } } }
        ''')
        assert r.result == 'FAILURE'
        assert r.error.message.contains('Only one pipeline { ... } block')
    }

}
