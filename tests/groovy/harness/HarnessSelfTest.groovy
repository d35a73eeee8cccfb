import hudson.AbortException
import org.jenkinsci.plugins.workflow.steps.FlowInterruptedException
import org.jenkinsci.plugins.workflow.steps.MissingContextVariableException
import org.junit.Before
import org.junit.Rule
import org.junit.Test
import org.junit.rules.TemporaryFolder

import static groovy.test.GroovyAssert.shouldFail

/**
 * The harness's own tests, on the fixture library in tests/groovy/fixtures/lib (not on the real
 * vars): scripts, bindings, env, sh, credentials, steps. Declarative flow: DeclarativeSelfTest.
 */
class HarnessSelfTest {

    @Rule
    public TemporaryFolder tmp = new TemporaryFolder()

    PipelineHarness h

    @Before
    void setUp() {
        h = new PipelineHarness(new File(PipelineHarness.repoRoot(), 'tests/groovy/fixtures/lib'), tmp.newFolder('ws'))
    }

    // ------------------------------------------------------------------ env

    @Test
    void envStoresStringsAndNullRemoves() {
        BuildResult r = h.runJenkinsfile('''
            env.COUNT = 1
            env.GONE = 'x'
            env.GONE = null
            env['FLAG'] = true
        ''')
        assert r.result == 'SUCCESS'
        assert h.env.COUNT == '1'
        assert h.env.FLAG == 'true'
        assert !h.env.containsKey('GONE')
    }

    @Test
    void withEnvRestoresOnlyItsKeysAndPrependsPath() {
        h.env.MYPATH = '/a'
        BuildResult r = h.runJenkinsfile('''
            withEnv(['MYPATH+EXTRA=/b', 'TMPVAR=1']) {
                env.INSIDE = 'kept'
                echo "in: ${env.MYPATH} ${env.TMPVAR}"
            }
            echo "out: ${env.MYPATH} ${env.TMPVAR}"
            node {
                withEnv(['PATH+FIXTURE=/opt/fixture/bin']) {
                    env.SEEN_PATH = sh(script: 'echo "$PATH"', returnStdout: true).trim()
                }
            }
        ''')
        assert r.result == 'SUCCESS': r.log
        assert r.log.contains('in: /b:/a 1')
        assert r.log.contains('out: /a null')
        assert h.env.INSIDE == 'kept'
        assert h.env.SEEN_PATH.startsWith('/opt/fixture/bin:')
        assert !h.env.PATH.startsWith('/opt/fixture/bin')
    }

    @Test
    void bareNamesFallBackToEnvAndParamsAreEnvToo() {
        h.params.GREETING = 'hey'
        BuildResult r = h.runJenkinsfile('echo "build ${BUILD_NUMBER} ${env.JOB_NAME} ${params.GREETING} ${env.GREETING}"')
        assert r.log.contains('build 1 mlops-test hey hey')
    }

    @Test
    void paramsAreReadOnlyInScripts() {
        h.params.A = 'x'
        BuildResult r = h.runJenkinsfile('params.A = "y"')
        assert r.result == 'FAILURE'
        assert r.error instanceof UnsupportedOperationException
    }

    @Test
    void libraryVersionComesFromThePythonPackage() {
        assert h.env['library.mlops.version'] == 'v9.8.7'
        BuildResult r = h.runJenkinsfile('echo "lib ${env.\'library.mlops.version\'}"')
        assert r.log.contains('lib v9.8.7')
        PipelineHarness real = new PipelineHarness(PipelineHarness.repoRoot(), tmp.newFolder('real'))
        assert real.env['library.mlops.version'] ==~ /v\d+\.\d+\.\d+.*/
    }

    // ------------------------------------------------------------------ scripts, bindings, vars

    @Test
    void eachScriptHasItsOwnBinding() {
        BuildResult own = h.runJenkinsfile('SOME_GLOBAL = "set in the Jenkinsfile"; echo SOME_GLOBAL')
        assert own.result == 'SUCCESS'
        assert own.log.contains('set in the Jenkinsfile')

        PipelineHarness other = new PipelineHarness(h.libraryRoot, tmp.newFolder('ws2'))
        BuildResult r = other.runJenkinsfile('SOME_GLOBAL = "set in the Jenkinsfile"; fixtureGlobalReader()')
        assert r.result == 'FAILURE'
        assert r.error instanceof MissingPropertyException
        assert r.error.message.contains('SOME_GLOBAL')
    }

    @Test
    void varsCallVarsAndTheirMethodsAndAreRecorded() {
        assert h.callStep('fixtureCaller', [name: 'ann']) == 'hello ann / ANN!'
        assert h.calls*.step == ['fixtureCaller', 'fixtureEcho', 'echo', 'fixtureEcho.shout']
        assert h.calls[0].args == [name: 'ann']
        assert h.calls[2].args == 'hello ann'      // GStrings are recorded as Strings
        assert h.callsTo('echo')[0].named == [message: 'hello ann']
        assert h.log.contains('hello ann')
    }

    @Test
    void libraryAnnotationNonCpsSrcClassesAndResources() {
        BuildResult r = h.runJenkinsfile('''
            @Library('mlops@main') _
            node('linux') {
                echo "said: ${fixtureResource()}"
            }
        ''')
        assert r.result == 'SUCCESS': r.log
        assert r.log.contains('said: hello from a library resource')
        assert new File(h.workspace, 'greeting.txt').text.startsWith('hello from a library resource')
        AbortException e = shouldFail(AbortException) { h.callStep('fixtureResource', 'org/fixture/nope.txt') }
        assert e.message == 'No such library resource org/fixture/nope.txt could be found.'
    }

    @Test
    void blockVarsAndPrintlnGoToTheLog() {
        BuildResult r = h.runJenkinsfile('''
            node {
                fixtureBlock('Inner') {
                    println "stage ${env.FIXTURE_STAGE}"
                    echo sh(script: 'echo "$PATH"', returnStdout: true).trim()
                }
            }
        ''')
        assert r.result == 'SUCCESS': r.log
        assert r.stagesRun == ['Inner']
        assert r.log.contains('stage Inner')
        assert r.log.contains('/opt/fixture/bin:')
    }

    @Test
    void stubVarsAndSteps() {
        h.stubVar('fixtureEcho', [call: { Map a -> "stubbed ${a.name}".toString() }, shout: { String s -> 'SHOUT' }])
        h.stubStep('checkout') { Object scm -> [GIT_COMMIT: 'abc123'] }
        BuildResult r = h.runJenkinsfile('''
            node {
                echo "commit ${checkout(scm).GIT_COMMIT}"
                echo fixtureCaller(name: 'bo')
            }
        ''')
        assert r.result == 'SUCCESS': r.log
        assert r.log.contains('commit abc123')
        assert r.log.contains('stubbed bo / SHOUT')
        assert h.callsTo('fixtureEcho')[0].args == [name: 'bo']
        assert h.callsTo('checkout').size() == 1
    }

    // ------------------------------------------------------------------ sh

    @Test
    void shRunsForRealWithStdoutStatusAndErrors() {
        h.env.FOO = 'bar'
        assert h.callStep('sh', [script: 'echo "hi $FOO"', returnStdout: true]) == 'hi bar\n'
        assert h.callStep('sh', [script: 'exit 3', returnStatus: true]) == 3
        AbortException e = shouldFail(AbortException) { h.callStep('sh', 'echo before; exit 3') }
        assert e.message == 'script returned exit code 3'
        assert h.log.contains('+ exit 3')
        assert h.log.contains('before')
        assert h.shScripts == ['echo "hi $FOO"', 'exit 3', 'echo before; exit 3']
    }

    @Test
    void shRunsInTheCurrentDirAndHonoursShebang() {
        BuildResult r = h.runJenkinsfile('''
            node {
                dir('sub/dir') {
                    env.WHERE = sh(script: 'pwd', returnStdout: true).trim()
                    env.PWD_STEP = pwd()
                }
                env.SHELL_USED = sh(script: '#!/bin/bash\\necho "bash ${BASH_VERSINFO[0]}"', returnStdout: true).trim()
            }
        ''')
        assert r.result == 'SUCCESS': r.log
        assert h.env.WHERE == new File(h.workspace, 'sub/dir').canonicalPath
        assert h.env.PWD_STEP == new File(h.workspace, 'sub/dir').path
        assert h.env.SHELL_USED ==~ /bash \d+/
    }

    @Test
    void aHungShFailsTheTest() {
        h.shTimeoutSeconds = 1
        HarnessAssertionError e = shouldFail(HarnessAssertionError) { h.callStep('sh', 'sleep 30') }
        assert e.message.contains('sh did not finish within 1 s')
    }

    @Test
    void shMocksGiveCannedResults() {
        h.shMocks['^mlops train'] = [stdout: '{"ok": true}\n', status: 0]
        h.shMocks['^mlops evaluate'] = [stdout: '', status: 1]
        h.shMocks['^mlops version'] = { String script -> [stdout: "mocked: ${script}".toString()] }
        assert h.callStep('sh', [script: 'mlops train --config x', returnStdout: true]) == '{"ok": true}\n'
        assert h.callStep('sh', [script: 'mlops evaluate', returnStatus: true]) == 1
        assert shouldFail(AbortException) { h.callStep('sh', 'mlops evaluate') }.message == 'script returned exit code 1'
        assert h.callStep('sh', [script: 'mlops version', returnStdout: true]) == 'mocked: mlops version'
        assert h.callStep('sh', [script: 'echo real', returnStdout: true]) == 'real\n'
    }

    @Test
    void workspaceStepsNeedANode() {
        BuildResult r = h.runJenkinsfile("sh 'true'")
        assert r.result == 'FAILURE'
        assert r.error instanceof MissingContextVariableException
        assert r.error.message.contains('such as: node')
        assert h.callStep('sh', [script: 'true', returnStatus: true]) == 0   // callStep runs as inside node {}
    }

    // ------------------------------------------------------------------ credentials

    @Test
    void secretsAreMaskedAndGoneAfterTheBlock() {
        h.credentials['fixture-token'] = 's3cr3t-value'
        String out = h.callStep('fixtureSecret')
        assert out.contains('token=s3cr3t-value')    // returnStdout is not masked, as in Jenkins
        assert out.trim().endsWith('12')
        assert h.log.contains('the token is ****')
        assert h.log.contains('token=****')           // the `sh -x` trace line
        assert !h.log.contains('s3cr3t-value')
        assert !h.env.containsKey('TOKEN')
    }

    @Test
    void secretInterpolatedIntoShFailsTheTest() {
        h.credentials['fixture-token'] = 's3cr3t-value'
        HarnessAssertionError e = shouldFail(HarnessAssertionError) { h.callStep('fixtureSecret', [leak: true]) }
        assert e.message.contains('secret interpolated into sh')
        assert !e.message.contains('s3cr3t-value')
        // runJenkinsfile reports build failures in its result, but never this one.
        PipelineHarness other = new PipelineHarness(h.libraryRoot, tmp.newFolder('ws2'))
        other.credentials['fixture-token'] = 's3cr3t-value'
        shouldFail(HarnessAssertionError) { other.runJenkinsfile("node { fixtureSecret(leak: true) }") }
    }

    @Test
    void unknownCredentialsIdFails() {
        AbortException e = shouldFail(AbortException) { h.callStep('fixtureSecret', [credentialsId: 'nope']) }
        assert e.message == "Could not find credentials entry with ID 'nope'"
        assert h.currentBuild.result == 'FAILURE'
        assert h.log.contains("ERROR: Could not find credentials entry with ID 'nope'")
    }

    @Test
    void usernamePasswordAndFileCredentials() {
        h.credentials.up = [username: 'bob', password: 'pa55word']
        h.credentials.kf = 'file-secret-content'
        BuildResult r = h.runJenkinsfile('''
            node {
                withCredentials([usernamePassword(credentialsId: 'up', usernameVariable: 'U', passwordVariable: 'P'),
                                 file(credentialsId: 'kf', variable: 'KF')]) {
                    sh 'echo "user $U pass $P"; cat "$KF"'
                    env.SAVED_KF = KF
                }
            }
        ''')
        assert r.result == 'SUCCESS': r.log
        assert r.log.contains('user bob pass ****')
        assert !r.log.contains('pa55word')
        assert !r.log.contains('file-secret-content')
        assert !new File(h.env.SAVED_KF).exists()
        assert !h.env.containsKey('U') && !h.env.containsKey('P') && !h.env.containsKey('KF')
    }

    // ------------------------------------------------------------------ other steps

    @Test
    void disabledStepThrowsNoSuchMethodErrorLikeJenkins() {
        assert h.callStep('fixtureJson', '{"a": [1, 2]}') == [a: [1, 2]]
        assert !h.log.contains('not installed')

        h.disableStep('readJSON')
        assert h.callStep('fixtureJson', '{"b": {"c": null}}') == [b: [c: null]]
        assert h.log.contains('readJSON is not installed')
        BuildResult r = h.runJenkinsfile("node { readJSON(text: '{}') }")
        assert r.result == 'FAILURE'
        assert r.error instanceof NoSuchMethodError
        assert r.error.message.startsWith("No such DSL method 'readJSON' found among steps [")
    }

    @Test
    void unknownStepsAndStepParameters() {
        BuildResult r = h.runJenkinsfile("steps.noSuchStep('x')")
        assert r.error instanceof NoSuchMethodError
        HarnessAssertionError e = shouldFail(HarnessAssertionError) {
            h.callStep('junit', [testResults: 'x.xml', allowEmptyResult: true])
        }
        assert e.message.contains("Unknown parameter(s) found for step 'junit': allowEmptyResult")
        h.strictStepParameters = false
        h.callStep('junit', [testResults: 'x.xml', allowEmptyResults: true, bogus: 1])
        assert h.warnings.any { it.contains('bogus') }
    }

    @Test
    void errorUnstableAndResultsOnlyGetWorse() {
        BuildResult r = h.runJenkinsfile('''
            unstable('flaky')
            currentBuild.result = 'SUCCESS'
            currentBuild.description = 'described'
            currentBuild.displayName = '#1 custom'
        ''')
        assert r.result == 'UNSTABLE'
        assert r.description == 'described'
        assert h.currentBuild.displayName == '#1 custom'
        assert r.log.contains('WARNING: flaky')

        PipelineHarness other = new PipelineHarness(h.libraryRoot, tmp.newFolder('ws2'))
        BuildResult failed = other.runJenkinsfile('echo "before"; error("boom"); echo "after"')
        assert failed.result == 'FAILURE'
        assert failed.error instanceof AbortException
        assert failed.log.contains('ERROR: boom')
        assert !failed.log.contains('after')
        assert failed.log.trim().endsWith('Finished: FAILURE')
    }

    @Test
    void junitFailuresMakeTheBuildUnstable() {
        new File(h.workspace, 'reports').mkdirs()
        new File(h.workspace, 'reports/a.xml').text = '''<?xml version="1.0"?>
            <testsuites><testsuite name="s" tests="3">
              <testcase name="ok"/>
              <testcase name="bad"><failure message="no"/></testcase>
              <testcase name="skip"><skipped/></testcase>
            </testsuite></testsuites>'''
        BuildResult r = h.runJenkinsfile('''node { def s = junit 'reports/*.xml'; echo "failed ${s.failCount}" }''')
        assert r.result == 'UNSTABLE'
        assert r.log.contains('failed 1')
        assert h.junitReports == [[file: 'reports/a.xml', tests: 3, failures: 1, skipped: 1]]

        PipelineHarness other = new PipelineHarness(h.libraryRoot, tmp.newFolder('ws2'))
        assert other.runJenkinsfile("node { junit 'none/*.xml' }").log.contains('No test report files were found')
        PipelineHarness third = new PipelineHarness(h.libraryRoot, tmp.newFolder('ws3'))
        assert third.runJenkinsfile("node { junit testResults: 'none/*.xml', allowEmptyResults: true }").result == 'SUCCESS'
    }

    @Test
    void archiveArtifactsGlobs() {
        ['out/model/m.pkl', 'out/model/deep/meta.json', 'out/reports/r.json', 'out/reports/r.xml'].each {
            File f = new File(h.workspace, it)
            f.parentFile.mkdirs()
            f.text = it
        }
        h.callStep('archiveArtifacts', [artifacts: 'out/model/**, out/reports/*.json', fingerprint: true])
        assert h.archived == ['out/model/deep/meta.json', 'out/model/m.pkl', 'out/reports/r.json']
        h.callStep('archiveArtifacts', [artifacts: 'nothing/**', allowEmptyArchive: true])
        AbortException e = shouldFail(AbortException) { h.callStep('archiveArtifacts', 'nothing/**') }
        assert e.message.contains('No artifacts found that match the file pattern "nothing/**"')
    }

    @Test
    void filesRetryCatchErrorAndParallel() {
        BuildResult r = h.runJenkinsfile('''
            node {
                writeFile(file: 'a/b.txt', text: 'content')
                assert fileExists('a/b.txt') && readFile('a/b.txt') == 'content'
                int attempts = 0
                retry(3) {
                    attempts++
                    if (attempts < 3) { error("attempt ${attempts}") }
                }
                echo "attempts ${attempts}"
                catchError(buildResult: 'UNSTABLE', stageResult: 'FAILURE') {
                    error('caught')
                }
                def results = parallel(one: { 1 }, two: { 2 })
                echo "parallel ${results}"
                dir('a') { deleteDir() }
                echo "exists after deleteDir: ${fileExists('a')}"
            }
        ''')
        assert r.result == 'UNSTABLE': r.log
        assert r.log.contains('attempts 3')
        assert r.log.contains('ERROR: caught')
        assert r.log.contains('parallel [one:1, two:2]')
        assert r.log.contains('exists after deleteDir: false')
    }

    @Test
    void inputAnswersPerResponse() {
        def one = h.callStep('input', [message: 'Go?', parameters: [h.callStep('string', [name: 'WHO', defaultValue: 'me'])]])
        assert one == 'me'
        h.inputValues.WHO = 'you'
        def many = h.callStep('input', [message: 'Go?', submitterParameter: 'APPROVER',
            parameters: [h.callStep('string', [name: 'WHO', defaultValue: 'me'])]])
        assert many == [WHO: 'you', APPROVER: 'tester']
        assert h.callStep('input', 'Plain?') == null
        h.inputResponse = 'abort'
        shouldFail(FlowInterruptedException) { h.callStep('input', [message: 'Go?']) }
        assert h.currentBuild.result == 'ABORTED'
        assert h.inputs.size() == 4
    }

    @Test
    void scriptedPropertiesDeclareParameterDefaults() {
        h.params.KEEP = 'given'
        BuildResult r = h.runJenkinsfile('''
            properties([
                buildDiscarder(logRotator(numToKeepStr: '5')),
                parameters([string(name: 'KEEP', defaultValue: 'default'), booleanParam(name: 'FLAG', defaultValue: true),
                            choice(name: 'PICK', choices: ['first', 'second'])]),
                pipelineTriggers([cron('H 3 * * *')]),
            ])
            echo "params ${params.KEEP} ${params.FLAG} ${params.PICK}"
        ''')
        assert r.result == 'SUCCESS': r.log
        assert r.log.contains('params given true first')
        assert h.jobProperties*.symbol == ['buildDiscarder', 'parameters', 'pipelineTriggers']
        assert h.jobProperties[0].strategy.numToKeepStr == '5'
    }

}
