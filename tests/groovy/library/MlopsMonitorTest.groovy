import hudson.AbortException
import org.junit.Test

import static org.junit.Assert.assertEquals
import static org.junit.Assert.assertFalse
import static org.junit.Assert.assertNull
import static org.junit.Assert.assertTrue
import static org.junit.Assert.fail

/**
 * mlopsMonitor and mlopsPipeline's `schedule` and `monitor`, against a MOCK `mlops` (FakeMlops
 * through CliFixture): a shell script answering each call with the next canned JSON and exit
 * code of the `mlops monitor check` / `mlops monitor report` contract, recording its arguments, and
 * writing a small HTML file where `--out` points (as `monitor report` does). The real CLI's checks are
 * tested in Python. `build` and currentBuild.getBuildCauses are the harness's mocks of those Jenkins APIs.
 * Each exit code's path: 0 ok, 1 retrain (per onRetrain), 2 usage error, 3 insufficient data.
 */
class MlopsMonitorTest {

    static final String DRIFT = 'data drift: 3 of 4 features drifted (share 0.75 >= 0.50): petal_length, ' +
        'petal_width, sepal_length'
    static final String ACCURACY = 'live accuracy 0.812 < 0.900 over 300 feedback rows (hold-out accuracy 0.95)'
    static final Map OK = [model: 'iris', version: 3, environment: 'production', status: 'ok', retrain: false,
        reasons: [], findings: [drift: 'clear', accuracy: 'clear', data_change: 'clear'],
        drift: [verdict: 'no_drift', drifted_share: 0.0, features: [[feature: 'petal_length', verdict: 'no_drift',
            statistic: 0.04, threshold: 0.1]]],
        performance: [accuracy: 0.95, feedback_rows: 300], window: [rows: 1200]]
    static final Map RETRAIN = OK + [status: 'retrain', retrain: true, reasons: [DRIFT, ACCURACY],
        findings: [drift: 'fired', accuracy: 'fired', data_change: 'clear']]
    static final Map INSUFFICIENT = OK + [status: 'insufficient_data',
        findings: [drift: 'insufficient_data', accuracy: 'insufficient_data', data_change: 'clear'], window: [rows: 120]]
    static final String REASONS = "${DRIFT}; ${ACCURACY}"
    static final String TIMER = 'hudson.triggers.TimerTrigger$TimerTriggerCause'
    static final Map TIMER_CAUSE = [_class: TIMER, shortDescription: 'Started by timer']
    static final Map USER_CAUSE = [_class: 'hudson.model.Cause$UserIdCause', shortDescription: 'Started by user alice',
        userId: 'alice']
    static final String REPORT_URL = 'http://localhost:8080/job/mlops-test/1/artifact/mlops-out/reports/' +
        'monitor-production.html'
    static final String LINK = " - <a href=\"${REPORT_URL}\">monitoring report</a>"
    static final List CHECK = ['monitor', 'check', '--config', 'mlops.yaml', '--output', 'json']
    static final List TRAINING = ['Validate data', 'Train', 'Evaluate', 'Register']
    static final List AFTER_REGISTER = ['Package', 'Approve', 'Promote', 'Deploy', 'Deploy to staging',
        'Approve production', 'Deploy to production']

    // ------------------------------------------------------------------ mlopsMonitor: one test per exit code

    @Test
    void exit0OkSucceedsDescribesAndArchivesTheVerdictAndTheReport() {
        CliFixture f = new CliFixture([[status: 0, json: OK], [status: 0, json: OK + [report: 'x.html']]])
        Map verdict = f.h.callStep('mlopsMonitor', [:])

        assertEquals([CHECK, report(f)], f.mlops.calls())
        assertEquals('ok', verdict.status)
        assertEquals(0, verdict.exitCode)
        assertEquals('mlops-out/reports/monitor-production.html', verdict.reportFile)
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
        assertEquals("monitoring: ok${LINK}".toString(), f.h.currentBuild.description)
        assertTrue(f.h.log, f.h.log.contains('mlopsMonitor: iris v3 in production: ok (drift clear, accuracy clear, ' +
            'data_change clear; 1200 rows in the window)'))
        assertEquals(['mlops-out/reports/monitor-production.json', 'mlops-out/reports/monitor-production.html'],
            f.h.archived)
        Map written = verdictFile(f)
        assertEquals('ok', written.status)
        assertEquals(0, written.exitCode)
        assertEquals('clear', written.findings.drift)
        assertTrue(new File(f.ws, 'mlops-out/reports/monitor-production.html').text.contains('<html>'))
        assertTrue(f.h.builds.isEmpty())
    }

    @Test
    void exit1RetrainIsUnstableByDefaultWithTheReasonsEchoedAndDescribed() {
        CliFixture f = new CliFixture([[status: 1, json: RETRAIN], [status: 0, json: RETRAIN]])
        Map verdict = f.h.callStep('mlopsMonitor', [report: true])

        assertEquals('retrain', verdict.status)
        assertEquals(1, verdict.exitCode)
        assertEquals('UNSTABLE', f.h.currentBuild.currentResult)
        assertEquals("monitoring: retrain (${REASONS})${LINK}".toString(), f.h.currentBuild.description)
        ['mlopsMonitor: iris v3 in production: retrain', "mlopsMonitor:   - ${DRIFT}", "mlopsMonitor:   - ${ACCURACY}",
         "WARNING: mlopsMonitor: retrain: ${REASONS}"].each { line ->
            assertTrue(line, f.h.log.contains(line.toString()))
        }
        assertEquals('retrain', verdictFile(f).status)
        assertTrue(f.h.builds.isEmpty())
    }

    @Test
    void exit1WithOnRetrainFailureFailsTheBuildAfterArchivingTheReport() {
        CliFixture f = new CliFixture([[status: 1, json: RETRAIN], [status: 0, json: RETRAIN]])
        BuildResult build = f.run("mlopsMonitor(onRetrain: 'failure')")

        assertEquals('FAILURE', build.result)
        assertEquals("mlopsMonitor: retrain: ${REASONS}".toString(), build.error.message)
        assertEquals("monitoring: retrain (${REASONS})${LINK}".toString(), build.description)
        assertEquals(['mlops-out/reports/monitor-production.json', 'mlops-out/reports/monitor-production.html'],
            f.h.archived)
    }

    @Test
    void exit1WithOnRetrainSuccessOnlyDescribes() {
        CliFixture f = new CliFixture([[status: 1, json: RETRAIN]])
        Map verdict = f.h.callStep('mlopsMonitor', [onRetrain: 'success', report: false])

        assertEquals(1, verdict.exitCode)
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
        assertEquals("monitoring: retrain (${REASONS})".toString(), f.h.currentBuild.description)
        assertTrue(f.h.log.contains("mlopsMonitor:   - ${DRIFT}"))
    }

    @Test
    void exit1WithOnRetrainBuildStartsTheRetrainJobWithTheReasons() {
        CliFixture f = new CliFixture([[status: 1, json: RETRAIN]])
        Map verdict = f.h.callStep('mlopsMonitor', [onRetrain: 'build', retrainJob: 'models/iris-train', report: false])

        assertEquals(1, f.h.builds.size())
        Map started = f.h.builds[0]
        assertEquals('models/iris-train', started.job)
        assertEquals(false, started.wait)
        assertEquals(1, started.parameters.size())
        assertEquals('string', started.parameters[0].symbol)
        assertEquals('MLOPS_TRIGGER_REASONS', started.parameters[0].name)
        assertEquals(REASONS, started.parameters[0].value)
        assertEquals(true, verdict.retrainStarted)
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
        assertEquals("monitoring: retrain (${REASONS}); started models/iris-train".toString(),
            f.h.currentBuild.description)
        assertTrue(f.h.log, f.h.log.contains("mlopsMonitor: started models/iris-train (MLOPS_TRIGGER_REASONS: ${REASONS})"))
    }

    @Test
    void withActTheTriggerDecidesWhetherTheRetrainJobStarts() {
        Map cooling = RETRAIN + [trigger: [fired: false, action: 'none', key: 'k1',
            reason: 'cooling down until 2024-05-01T12:00:00Z (last trigger 2024-05-01T06:00:00Z)']]
        Map fired = RETRAIN + [trigger: [fired: true, action: 'none', key: 'k2', reason: REASONS]]
        Map firedElsewhere = RETRAIN + [trigger: [fired: true, action: 'jenkins', key: 'k3', reason: REASONS]]
        CliFixture f = new CliFixture([[status: 1, json: cooling], [status: 1, json: fired], [status: 1, json: firedElsewhere]])
        Map args = [act: true, onRetrain: 'build', retrainJob: 'iris-train', report: false]

        Map held = f.h.callStep('mlopsMonitor', args)
        assertTrue(f.h.builds.isEmpty())
        assertEquals(false, held.retrainStarted)
        assertEquals(("monitoring: retrain (${REASONS}); iris-train not started: held back by the trigger: cooling down " +
            'until 2024-05-01T12:00:00Z (last trigger 2024-05-01T06:00:00Z)').toString(), f.h.currentBuild.description)
        assertTrue(f.h.log.contains('mlopsMonitor: trigger (none): not fired: cooling down until'))

        f.h.callStep('mlopsMonitor', args)
        assertEquals(['iris-train'], f.h.builds*.job)

        Map elsewhere = f.h.callStep('mlopsMonitor', args)
        assertEquals('the jenkins action of the CLI already started it', 1, f.h.builds.size())
        assertEquals(false, elsewhere.retrainStarted)
        assertTrue(f.h.currentBuild.description.endsWith(
            "iris-train not started: the trigger action 'jenkins' already started the retraining"))
        assertEquals((1..3).collect { ['monitor', 'check', '--act', '--config', 'mlops.yaml', '--output', 'json'] },
            f.mlops.calls())
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
    }

    @Test
    void exit2FailsWithTheCliMessageAndWritesNothing() {
        CliFixture f = new CliFixture([[status: 2, json: [ok: false, error: "no version of iris is in 'production'"]]])
        BuildResult build = f.run('mlopsMonitor()')

        assertEquals('FAILURE', build.result)
        assertEquals("mlopsMonitor: no version of iris is in 'production'", build.error.message)
        assertEquals([CHECK], f.mlops.calls())
        assertFalse(new File(f.ws, 'mlops-out').exists())
        assertTrue(f.h.archived.isEmpty())
        assertTrue(f.h.builds.isEmpty())
    }

    @Test
    void exit3InsufficientDataLeavesTheBuildResultAlone() {
        CliFixture f = new CliFixture([[status: 3, json: INSUFFICIENT], [status: 0, json: INSUFFICIENT]])
        Map verdict = f.h.callStep('mlopsMonitor', [onRetrain: 'failure'])

        assertEquals(3, verdict.exitCode)
        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
        assertEquals("monitoring: insufficient data (drift, accuracy; 120 rows in the window)${LINK}".toString(),
            f.h.currentBuild.description)
        assertTrue(f.h.log, f.h.log.contains('mlopsMonitor: iris v3 in production: insufficient data (drift ' +
            'insufficient_data, accuracy insufficient_data, data_change clear; 120 rows in the window); the build ' +
            'result is left as it is'))
        assertEquals('insufficient_data', verdictFile(f).status)

        // Nor does it make a build that is already UNSTABLE any better or worse.
        CliFixture g = new CliFixture([[status: 3, json: INSUFFICIENT]])
        BuildResult build = g.run("unstable('an earlier test failed'); mlopsMonitor(report: false)")
        assertEquals('UNSTABLE', build.result)
        assertTrue(build.description.startsWith('monitoring: insufficient data'))
    }

    // ------------------------------------------------------------------ command lines, files, the report

    @Test
    void argumentsBecomeTheCliWordsOfTheCheckAndTheReport() {
        CliFixture f = new CliFixture([[status: 0, json: OK + [environment: 'staging']], [status: 0, json: OK]])
        f.h.callStep('mlopsMonitor', [environment: 'staging', version: 3, log: 'logs/predictions', act: true,
            config: 'model/mlops.yaml', set: ['monitoring.window': '2h', 'monitoring.drift_share': 0.3],
            outDir: 'out'])

        String ws = f.h.workspace.path
        List target = ['--env', 'staging', '--version', '3', '--log', "${ws}/logs/predictions".toString()]
        List config = ['--config', 'model/mlops.yaml', '--set', 'monitoring.drift_share=0.3', '--set',
            'monitoring.window=2h', '--output', 'json']
        assertEquals([['monitor', 'check'] + target + ['--act'] + config,
            ['monitor', 'report'] + target + ['--out', "${ws}/out/reports/monitor-staging.html".toString()] + config],
            f.mlops.calls())
        assertEquals(['out/reports/monitor-staging.json', 'out/reports/monitor-staging.html'], f.h.archived)
        assertTrue(f.h.currentBuild.description.contains('artifact/out/reports/monitor-staging.html'))
    }

    @Test
    void withoutEnvironmentTheFilesAreNamedAfterTheVerdictsEnvironment() {
        CliFixture f = new CliFixture([[status: 0, json: OK + [environment: 'shadow/eu']]])
        f.h.callStep('mlopsMonitor', [report: false])

        assertEquals([CHECK], f.mlops.calls())
        assertEquals(['mlops-out/reports/monitor-shadow_eu.json'], f.h.archived)
        assertEquals('monitoring: ok', f.h.currentBuild.description)
    }

    @Test
    void aReportThatFailsIsAWarningAndTheVerdictStands() {
        CliFixture f = new CliFixture([[status: 0, json: OK], [status: 2, json: [ok: false, error: 'cannot write x.html'],
            writeReport: false]])
        Map verdict = f.h.callStep('mlopsMonitor', [:])

        assertEquals('SUCCESS', f.h.currentBuild.currentResult)
        assertEquals('monitoring: ok', f.h.currentBuild.description)
        assertEquals('cannot write x.html', verdict.reportError)
        assertNull(verdict.reportFile)
        assertTrue(f.h.log.contains('WARNING: mlopsMonitor: the HTML report was not written: cannot write x.html'))
        assertEquals(['mlops-out/reports/monitor-production.json'], f.h.archived)
    }

    // ------------------------------------------------------------------ argument errors

    @Test
    void argumentErrorsAreAllReportedAtOnceNamingTheArgument() {
        assertEquals("mlopsMonitor: argument 'retrainJob' is required with onRetrain 'build' (the job to build when " +
            'the verdict is retrain)', MlopsTestSupport.refusal('mlopsMonitor', [onRetrain: 'build']))
        assertEquals("mlopsMonitor: argument 'retrainJob' only applies to onRetrain 'build', not 'unstable'",
            MlopsTestSupport.refusal('mlopsMonitor', [retrainJob: 'iris-train']))
        assertEquals("mlopsMonitor: argument 'retrainJob' must name a job, got ''",
            MlopsTestSupport.refusal('mlopsMonitor', [onRetrain: 'build', retrainJob: ' ']))
        String several = MlopsTestSupport.refusal('mlopsMonitor', [enviroment: 'production', version: 0, act: 'yes',
            onRetrain: 'rebuild', retrainJob: 'iris-train', set: 'monitoring.window=2h', report: 1])
        assertTrue(several, several.startsWith("mlopsMonitor: unknown argument 'enviroment' (allowed: act, config, " +
            'environment, log, onRetrain, outDir, report, retrainJob, set, version)'))
        ["argument 'act' must be a Boolean, got String 'yes'",
         "argument 'onRetrain' is 'rebuild', allowed: unstable, failure, success, build",
         "argument 'set' must be a Map, got String", "argument 'report' must be a Boolean, got Integer",
         "argument 'retrainJob' only applies to onRetrain 'build', not 'rebuild'",
         "argument 'version' must be at least 1, got 0"].each { part -> assertTrue(several, several.contains(part)) }
    }

    // ------------------------------------------------------------------ mlopsPipeline: schedule and monitor

    @Test
    void timerStartedBuildChecksFirstAndSkipsTrainingWhenMonitoringIsOk() {
        CliFixture f = pipelineFixture([[status: 0, json: OK], [status: 0, json: OK]], TIMER_CAUSE)
        BuildResult build = f.h.runJenkinsfile(jenkinsfile("schedule: 'H */4 * * *', monitor: [environment: 'production']"))

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals(['Set up', 'Data', 'Monitor'], build.stagesRun)
        assertEquals(TRAINING + AFTER_REGISTER, build.stagesSkipped)
        assertEquals([config: 'mlops.yaml', environment: 'production', onRetrain: 'success'],
            f.h.callsTo('mlopsMonitor')[0].named)
        assertEquals([['monitor', 'check', '--env', 'production', '--config', 'mlops.yaml', '--output', 'json'],
            ['monitor', 'report', '--env', 'production', '--out', "${f.h.workspace.path}/mlops-out/reports/" +
             'monitor-production.html', '--config', 'mlops.yaml', '--output', 'json']]*.collect { it.toString() },
            f.mlops.calls())
        assertTrue(f.h.callsTo('mlopsTrain').isEmpty())
        assertEquals("monitoring: ok${LINK}; scheduled build: training skipped (no retraining needed)".toString(),
            build.description)
        assertTrue(build.log.contains('mlopsPipeline: build started by the timer: training skipped (no retraining needed)'))
        assertTrue(f.h.archived.contains('mlops-out/reports/monitor-production.json'))
    }

    @Test
    void timerStartedBuildRetrainsWhenTheVerdictIsRetrain() {
        CliFixture f = pipelineFixture([[status: 1, json: RETRAIN], [status: 0, json: RETRAIN],
            [status: 0, json: [ok: true, name: 'iris', version: 4]]], TIMER_CAUSE)
        BuildResult build = f.h.runJenkinsfile(jenkinsfile("schedule: '@daily', monitor: [:]"))

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals(['Set up', 'Data', 'Monitor'] + TRAINING + ['Promote'], build.stagesRun)
        assertEquals(1, f.h.callsTo('mlopsTrain').size())
        assertEquals(['monitor', 'monitor', 'registry'], f.mlops.calls()*.getAt(0))
        // The retraining keeps why it ran: the pipeline's outcome, then the monitoring verdict.
        assertEquals("iris v4 in production; monitoring: retrain (${REASONS})${LINK}; scheduled build: retraining"
            .toString(), build.description)
        assertTrue(build.log.contains("mlopsMonitor:   - ${DRIFT}"))
    }

    @Test
    void timerStartedBuildWithActTrainsOnlyWhenTheTriggerLetsIt() {
        Map held = RETRAIN + [trigger: [fired: false, action: 'none', key: 'k1',
            reason: 'already triggered for this finding at 2024-05-01T06:00:00Z (key k1)']]
        CliFixture f = pipelineFixture([[status: 1, json: held]], TIMER_CAUSE)
        BuildResult build = f.h.runJenkinsfile(jenkinsfile("schedule: 'H 2 * * *', monitor: [act: true, report: false]"))

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals(['Set up', 'Data', 'Monitor'], build.stagesRun)
        assertEquals([['monitor', 'check', '--act', '--config', 'mlops.yaml', '--output', 'json']], f.mlops.calls())
        assertEquals(("monitoring: retrain (${REASONS}); scheduled build: training skipped (held back by the trigger: " +
            'already triggered for this finding at 2024-05-01T06:00:00Z (key k1))').toString(), build.description)

        Map fired = RETRAIN + [trigger: [fired: true, action: 'none', key: 'k2', reason: REASONS]]
        CliFixture g = pipelineFixture([[status: 1, json: fired], [status: 0, json: [ok: true]]], TIMER_CAUSE)
        BuildResult retrained = g.h.runJenkinsfile(jenkinsfile("schedule: 'H 2 * * *', monitor: [act: true, report: false]"))
        assertEquals(['Set up', 'Data', 'Monitor'] + TRAINING + ['Promote'], retrained.stagesRun)
    }

    @Test
    void timerStartedBuildWithInsufficientDataSkipsTraining() {
        CliFixture f = pipelineFixture([[status: 3, json: INSUFFICIENT]], TIMER_CAUSE)
        BuildResult build = f.h.runJenkinsfile(jenkinsfile("schedule: '@hourly', monitor: [report: false]"))

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals(['Set up', 'Data', 'Monitor'], build.stagesRun)
        assertEquals('monitoring: insufficient data (drift, accuracy; 120 rows in the window); scheduled build: ' +
            'training skipped (not enough data to decide)', build.description)
    }

    @Test
    void theDocumentedNightlyJenkinsfileChecksOnlyForDriftWithTheTriggersGuards() {
        String help = new File(MlopsTestSupport.repoRoot(), 'vars/mlopsPipeline.txt').text
        String example = help.substring(help.lastIndexOf('```groovy\n') + 10, help.lastIndexOf('```'))
        assertTrue(example, example.contains('schedule:') && example.contains('monitor:'))
        Map fired = RETRAIN + [reasons: [DRIFT], findings: [drift: 'fired', accuracy: 'off', data_change: 'off'],
            trigger: [fired: false, action: 'none', key: 'k1', reason: 'cooling down until 2024-05-01T12:00:00Z']]
        CliFixture f = pipelineFixture([[status: 1, json: fired], [status: 0, json: fired]], TIMER_CAUSE)
        BuildResult build = f.h.runJenkinsfile(example)

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals([cron: 'H H(0-5) * * *'], f.h.declarative.triggers)
        assertEquals(['Set up', 'Data', 'Monitor'], build.stagesRun)
        List config = ['--config', 'mlops.yaml', '--set', 'monitoring.trigger.when=[drift]', '--set',
            'monitoring.window=24h', '--output', 'json']
        assertEquals(['monitor', 'check', '--env', 'production', '--act'] + config, f.mlops.calls()[0])
        assertEquals(['monitor', 'report', '--env', 'production', '--out',
            "${f.h.workspace.path}/mlops-out/reports/monitor-production.html".toString()] + config, f.mlops.calls()[1])
        assertTrue(build.description, build.description.endsWith(
            'scheduled build: training skipped (held back by the trigger: cooling down until 2024-05-01T12:00:00Z)'))
    }

    @Test
    void theRealCliTakesTheDocumentedSettingsAndItsUsageErrorFailsTheStep() {
        // The real `mlops` on a fresh `mlops init` project: the example's overrides load (a config error would
        // start with 'mlops.yaml:'); nothing is deployed yet, so the check ends with exit 2 and its message.
        File ws = MlopsTestSupport.initProject('iris', 'iris')
        PipelineHarness h = MlopsTestSupport.harness(ws)
        try {
            h.callStep('mlopsMonitor', [environment: 'production', act: true,
                set: ['monitoring.window': '24h', 'monitoring.trigger.when': '[drift]']])
            fail('nothing is deployed: the check must fail')
        } catch (AbortException e) {
            assertTrue(e.message, e.message.startsWith('mlopsMonitor: ') && !e.message.startsWith('mlopsMonitor: mlops.yaml:'))
            assertTrue(e.message, e.message.contains("'production'"))
        }
        assertEquals('FAILURE', h.currentBuild.currentResult)
        assertTrue(h.archived.isEmpty())
    }

    @Test
    void userStartedBuildRunsThePipelineAsWithoutMonitor() {
        CliFixture f = pipelineFixture([[status: 0, json: [ok: true, name: 'iris', version: 4]]], USER_CAUSE)
        BuildResult build = f.h.runJenkinsfile(jenkinsfile("schedule: 'H */4 * * *', monitor: [environment: 'production']"))

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals(['Set up', 'Data'] + TRAINING + ['Promote'], build.stagesRun)
        assertEquals(['Monitor', 'Package', 'Approve', 'Deploy', 'Deploy to staging', 'Approve production',
            'Deploy to production'], build.stagesSkipped)
        assertTrue(f.h.callsTo('mlopsMonitor').isEmpty())
        assertEquals([['registry', 'promote', 'iris@4', '--to', 'production', '--config', 'mlops.yaml', '--output',
            'json']], f.mlops.calls())
        assertEquals('iris v4 in production', build.description)
        assertEquals([cron: 'H */4 * * *'], f.h.declarative.triggers)
    }

    @Test
    void timerStartedBuildWithoutMonitorRetrainsAsEveryBuildDoes() {
        CliFixture f = pipelineFixture([[status: 0, json: [ok: true, name: 'iris', version: 4]]], TIMER_CAUSE)
        BuildResult build = f.h.runJenkinsfile(jenkinsfile("schedule: 'H 3 * * 1-5'"))

        assertEquals(build.log, 'SUCCESS', build.result)
        assertEquals(['Set up', 'Data'] + TRAINING + ['Promote'], build.stagesRun)
        assertEquals([cron: 'H 3 * * 1-5'], f.h.declarative.triggers)
    }

    @Test
    void scheduleRegistersTheCronTriggerOnEitherAgentAndNothingWithoutIt() {
        ['', ", agent: 'kubernetes'"].each { String agent ->
            CliFixture scheduled = pipelineFixture([[status: 0, json: [ok: true]]], USER_CAUSE)
            scheduled.h.runJenkinsfile(jenkinsfile("schedule: 'H H(0-5) * * *'${agent}"))
            assertEquals([cron: 'H H(0-5) * * *'], scheduled.h.declarative.triggers)

            CliFixture plain = pipelineFixture([[status: 0, json: [ok: true]]], USER_CAUSE)
            plain.h.runJenkinsfile(jenkinsfile(agent.replaceFirst('^, ', '')))
            assertEquals('no triggers {} at all: a timer configured in the job stays', [:], plain.h.declarative.triggers)
        }
    }

    @Test
    void allFourPipelineBlocksDeclareTheSameStagesAndSettings() {
        List<Map> declared = ['', "schedule: '@daily'", "agent: 'kubernetes'", "agent: 'kubernetes', schedule: '@daily'"]
            .collect { String more ->
                CliFixture f = pipelineFixture([[status: 0, json: [ok: true]]], USER_CAUSE)
                f.h.runJenkinsfile(jenkinsfile(more))
                [stages: f.h.declarative.stages, options: f.h.declarative.options,
                 parameters: f.h.declarative.parameters*.name]
            }
        assertEquals(['Set up', 'Data', 'Monitor'] + TRAINING + AFTER_REGISTER, declared[0].stages)
        declared.drop(1).each { Map other -> assertEquals(declared[0], other) }
    }

    @Test
    void cronSpecsAreCheckedBeforeAnyStage() {
        PipelineHarness h = MlopsTestSupport.harness(MlopsTestSupport.tempDir('ws-'))
        def pipeline = h.newBinding().getVariable('mlopsPipeline')
        ['H */4 * * *', '@daily', '@midnight', 'H 2 * * *', '*/15 * * * *', 'H(0-29)/10 * * * *', '0 8-18/2 * * 1-5',
         '5,35 H * * 0,7', "TZ=Europe/Berlin\n# nightly\nH 2 * * *\nH 14 * * 6"].each { String spec ->
            assertNull(spec, pipeline.scheduleProblem(spec))
        }
        ['', ' ', 'H */4 * *', 'H */4 * * * *', '@nightly', 'daily', '60 * * * *', 'H 24 * * *', '0 0 0 * *',
         '0 0 * 13 *', '* * * * 8', '5/10 * * * *', '*/0 * * * *', 'H(30-10) * * * *', 'H 2 * * MON',
         'TZ=UTC'].each { String spec ->
            String problem = pipeline.scheduleProblem(spec)
            assertTrue(spec, problem?.startsWith("mlopsPipeline: argument 'schedule' is '${spec}', not a Jenkins cron spec"))
        }
        assertTrue(pipeline.scheduleProblem("H 2 * * *\nH 25 * * *").contains("(line 'H 25 * * *')"))

        BuildResult build = h.runJenkinsfile(jenkinsfile("schedule: 'H */4 * *'"))
        assertEquals('FAILURE', build.result)
        assertEquals("mlopsPipeline: argument 'schedule' is 'H */4 * *', not a Jenkins cron spec: give five fields " +
            "MINUTE HOUR DOM MONTH DOW (e.g. 'H 2 * * *', 'H */4 * * *') or one of @yearly, @annually, @monthly, " +
            '@weekly, @daily, @midnight, @hourly', build.error.message)
        assertEquals([], build.stagesRun)
        assertTrue(h.callsTo('sh').isEmpty())
    }

    @Test
    void monitorArgumentsAreCheckedBeforeAnyStage() {
        PipelineHarness h = MlopsTestSupport.harness(MlopsTestSupport.tempDir('ws-'))
        BuildResult build = h.runJenkinsfile(jenkinsfile("schedule: 'H * * * 8', monitor: [enviroment: 'prod', " +
            "version: 0, onRetrain: 'build', retrainJob: 'iris-train']"))

        assertEquals('FAILURE', build.result)
        String message = build.error.message
        assertTrue(message, message.startsWith("mlopsPipeline: argument 'schedule' is 'H * * * 8'"))
        ["; mlopsPipeline: monitor: unknown argument 'enviroment'", "argument 'version' must be at least 1, got 0",
         "argument 'onRetrain' does not apply: a build started by the timer runs the training stages itself",
         "argument 'retrainJob' does not apply"].each { part -> assertTrue(message, message.contains(part)) }
        assertEquals([], build.stagesRun)

        BuildResult typed = MlopsTestSupport.harness(MlopsTestSupport.tempDir('ws-')).runJenkinsfile(
            jenkinsfile("schedule: 5, monitor: 'yes'"))
        ["argument 'schedule' must be a String, got Integer", "argument 'monitor' must be a Map, got String"].each {
            part -> assertTrue(typed.error.message, typed.error.message.contains(part))
        }
    }

    // ------------------------------------------------------------------ helpers

    private static List report(CliFixture f, String env = 'production') {
        return ['monitor', 'report', '--out', "${f.h.workspace.path}/mlops-out/reports/monitor-${env}.html".toString(),
            '--config', 'mlops.yaml', '--output', 'json']
    }

    private static Map verdictFile(CliFixture f) {
        return new groovy.json.JsonSlurperClassic().parseText(
            new File(f.ws, 'mlops-out/reports/monitor-production.json').text) as Map
    }

    /** A Jenkinsfile of mlopsPipeline(approval: false, <args>). */
    private static String jenkinsfile(String args) {
        return "@Library('mlops') _\nmlopsPipeline(${(['approval: false'] + (args ? [args] : [])).join(', ')})"
    }

    /** A pipeline whose training steps stand in for themselves (Register hands over v4), started by `cause`. */
    private static CliFixture pipelineFixture(List<Map> answers, Map cause) {
        CliFixture f = new CliFixture(answers)
        MlopsDeployTest.stubTrainingSteps(f.h)
        f.h.currentBuild.buildCauses = [cause]
        return f
    }

}
