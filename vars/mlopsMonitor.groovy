import com.cloudbees.groovy.cps.NonCPS
import groovy.json.JsonOutput
import org.mlops.jenkins.Shell
import org.mlops.jenkins.StepArgs

/**
 * Checks the serving model with `mlops monitor check` (drift, live accuracy, new data) and turns the
 * verdict into the build: exit 0 ok → description `monitoring: ok`; exit 1 retrain → `onRetrain`
 * (UNSTABLE, FAILURE, SUCCESS, or `build` of `retrainJob` with MLOPS_TRIGGER_REASONS); exit 3
 * insufficient data → said so, the build result left alone; exit 2 → FAILURE with the CLI's message.
 * Writes the verdict to `<outDir>/reports/monitor-<env>.json` and, with `report`, an HTML report
 * (`mlops monitor report`) beside it; both archived, the report linked from the description.
 * Returns the verdict Map (plus exitCode, reportFile, retrainStarted).
 */
Map call(Map args = [:]) {
    String problems = argumentErrors('mlopsMonitor', args)
    if (problems) {
        error(problems)
    }
    Map cfg = StepArgs.check('mlopsMonitor', args, SPEC).args
    List target = targetArgs(cfg)
    Map verdict = mlopsCli(args: ['monitor', 'check'] + target + (cfg.act ? ['--act'] : []) + configArgs(cfg),
        step: 'mlopsMonitor', returnCodes: [1, 3])
    String environment = fileSafe("${cfg.environment ?: verdict.environment ?: 'default'}")
    String verdictFile = "${cfg.outDir}/reports/monitor-${environment}.json"
    writeFile(file: verdictFile, text: toJson(verdict))
    archiveArtifacts(artifacts: verdictFile, allowEmptyArchive: true)
    String link = ''
    if (cfg.report) {
        link = report(cfg, target, "${cfg.outDir}/reports/monitor-${environment}.html", verdict)
    }
    return settle(cfg, verdict, link)
}

/** mlopsMonitor's arguments. */
@groovy.transform.Field
static final Map SPEC = [
    environment: [type: String],
    version: [type: Integer],
    log: [type: String],
    config: [type: String, default: 'mlops.yaml'],
    set: [type: Map, default: [:]],
    act: [type: Boolean, default: false],
    report: [type: Boolean, default: true],
    onRetrain: [type: String, default: 'unstable', allowed: ['unstable', 'failure', 'success', 'build']],
    retrainJob: [type: String],
    outDir: [type: String, default: 'mlops-out'],
]

/** The build parameter that carries the reasons to `retrainJob`. */
@groovy.transform.Field
static final String REASONS_PARAMETER = 'MLOPS_TRIGGER_REASONS'

/**
 * Every problem with mlopsMonitor arguments, as one message starting with `step`, or null.
 * mlopsPipeline checks its `monitor` arguments with it before any stage runs.
 */
@NonCPS
String argumentErrors(String step, Map args) {
    String stepArgsError = StepArgs.check(step, args, SPEC).error
    List more = argumentProblems(args)
    if (!more) {
        return stepArgsError
    }
    return (stepArgsError ?: "${step}:") + (stepArgsError ? '; ' : ' ') + more.join('; ')
}

/** Problems StepArgs cannot see: retrainJob goes with onRetrain 'build' (and only with it); positive version. */
@NonCPS
List argumentProblems(Map args) {
    List problems = []
    boolean building = args.onRetrain?.toString() == 'build'
    if (building && args.retrainJob == null) {
        problems << "argument 'retrainJob' is required with onRetrain 'build' " +
            '(the job to build when the verdict is retrain)'
    }
    if (!building && args.retrainJob != null) {
        problems << "argument 'retrainJob' only applies to onRetrain 'build', not '${args.onRetrain ?: 'unstable'}'"
    }
    if (CharSequence.isInstance(args.retrainJob) && !args.retrainJob.toString().trim()) {
        problems << "argument 'retrainJob' must name a job, got ''"
    }
    if (Integer.isInstance(args.version) && args.version < 1) {
        problems << "argument 'version' must be at least 1, got ${args.version}"
    }
    return problems
}

/** `--env`, `--version` and `--log`: what is checked, the same for the check and its report. */
List targetArgs(Map cfg) {
    List words = cfg.environment ? ['--env', cfg.environment] : []
    words += cfg.version != null ? ['--version', cfg.version.toString()] : []
    // The CLI would read a relative folder from where mlops.yaml is; the step means the workspace.
    words += cfg.log ? ['--log', mlopsCli.absolute(cfg.log)] : []
    return words
}

List configArgs(Map cfg) {
    return ['--config', cfg.config] + Shell.overrides(cfg.set ?: [:])
}

/**
 * `mlops monitor report` into `file`, archived; returns the description's link to it, or '' when it
 * was not written (a warning: the verdict stands, the build result is not changed by the report).
 */
String report(Map cfg, List target, String file, Map verdict) {
    Map written = mlopsCli(args: ['monitor', 'report'] + target + ['--out', mlopsCli.absolute(file)] + configArgs(cfg),
        step: 'mlopsMonitor', returnCodes: [1, 2, 3, 4])
    if (written.exitCode != 0 || !fileExists(file)) {
        String why = written.error ?: "mlops monitor report exited with status ${written.exitCode}"
        verdict.reportError = why
        echo "WARNING: mlopsMonitor: the HTML report was not written: ${why}"
        return ''
    }
    archiveArtifacts(artifacts: file, allowEmptyArchive: true)
    verdict.reportFile = file
    return "<a href=\"${env.BUILD_URL ?: ''}artifact/${file}\">monitoring report</a>"
}

/** The verdict as the build: result, description, the log's lines, and for onRetrain 'build' the retraining job. */
Map settle(Map cfg, Map verdict, String link) {
    String subject = subjectOf(verdict, cfg)
    switch (verdict.exitCode) {
        case 0:
            echo "mlopsMonitor: ${subject}: ok (${findingsText(verdict)}${rowsText(verdict)})"
            describe('monitoring: ok', link)
            return verdict
        case 3:
            // Too few rows to tell: neither ok nor a reason to retrain, so the result is not touched.
            echo "mlopsMonitor: ${subject}: insufficient data (${findingsText(verdict)}${rowsText(verdict)}); " +
                'the build result is left as it is'
            describe("monitoring: insufficient data (${insufficientText(verdict)})", link)
            return verdict
        case 1:
            return retrain(cfg, verdict, subject, link)
        default:
            error("mlopsMonitor: mlops monitor check exited with unexpected status ${verdict.exitCode}")
    }
}

/** Exit 1: the reasons echoed and described, then onRetrain. */
Map retrain(Map cfg, Map verdict, String subject, String link) {
    String reasons = reasonsText(verdict)
    echo "mlopsMonitor: ${subject}: retrain"
    reasonList(verdict).each { reason -> echo "mlopsMonitor:   - ${reason}" }
    if (Map.isInstance(verdict.trigger)) {
        Map trigger = verdict.trigger as Map
        echo "mlopsMonitor: trigger (${trigger.action}): ${trigger.fired ? 'fired' : 'not fired'}: ${trigger.reason}"
    }
    String text = "monitoring: retrain (${reasons})"
    switch (cfg.onRetrain) {
        case 'success':
            describe(text, link)
            return verdict
        case 'unstable':
            describe(text, link)
            unstable("mlopsMonitor: retrain: ${reasons}")
            return verdict
        case 'failure':
            describe(text, link)
            error("mlopsMonitor: retrain: ${reasons}")
            break
        case 'build':
            String notStarted = heldBack(cfg.act as boolean, verdict)
            verdict.retrainStarted = notStarted == null
            if (notStarted) {
                echo "mlopsMonitor: ${cfg.retrainJob} not started: ${notStarted}"
                describe("${text}; ${cfg.retrainJob} not started: ${notStarted}", link)
                return verdict
            }
            build(job: cfg.retrainJob, wait: false,
                parameters: [string(name: REASONS_PARAMETER, value: reasons)])
            echo "mlopsMonitor: started ${cfg.retrainJob} (${REASONS_PARAMETER}: ${reasons})"
            describe("${text}; started ${cfg.retrainJob}", link)
            return verdict
        default:
            error("mlopsMonitor: onRetrain '${cfg.onRetrain}' is not handled")
    }
}

/**
 * Why a retrain verdict should not start a retraining here, or null when it should. Without `act`
 * every retrain verdict should. With `act` the CLI's trigger decides: held back by its cool-down or
 * de-duplication (not fired), or already started by its own action (`run`, `jenkins`); only a
 * trigger that fired with action `none` leaves the retraining to Jenkins.
 */
@NonCPS
String heldBack(boolean act, Map verdict) {
    if (!act || !Map.isInstance(verdict.trigger)) {
        return null
    }
    Map trigger = verdict.trigger as Map
    if (trigger.fired != true) {
        return "held back by the trigger: ${trigger.reason ?: 'no reason given'}"
    }
    String action = trigger.action?.toString() ?: 'none'
    return action == 'none' ? null : "the trigger action '${action}' already started the retraining"
}

void describe(String text, String link) {
    currentBuild.description = link ? "${text} - ${link}" : text
}

/** `iris v3 in production`, from the verdict, else from the arguments. */
@NonCPS
String subjectOf(Map verdict, Map cfg) {
    String model = verdict.model ? "${verdict.model} " : ''
    Object version = verdict.version ?: cfg.version
    String where = "${verdict.environment ?: cfg.environment ?: 'the monitored environment'}"
    return version != null ? "${model}v${version} in ${where}" : "${model ?: 'the model '}in ${where}"
}

@NonCPS
List reasonList(Map verdict) {
    return List.isInstance(verdict.reasons) ? (verdict.reasons as List).collect { reason -> reason.toString() } : []
}

@NonCPS
String reasonsText(Map verdict) {
    List reasons = reasonList(verdict)
    return reasons ? reasons.join('; ') : 'no reason given'
}

/** `drift clear, accuracy insufficient_data, data_change clear`. */
@NonCPS
String findingsText(Map verdict) {
    Map findings = Map.isInstance(verdict.findings) ? verdict.findings as Map : [:]
    List names = findingNames(findings)
    return names ? names.collect { name -> "${name} ${findings[name]}" }.join(', ') : 'no findings'
}

/** The findings' names in the CLI's order (drift, accuracy, data_change), whatever order the JSON parser kept. */
@NonCPS
List findingNames(Map findings) {
    List known = ['drift', 'accuracy', 'data_change']
    List names = findings.keySet().collect { name -> name.toString() }
    return known.findAll { name -> names.contains(name) } + (names - known).sort()
}

/** `, 120 rows in the window`, or nothing. */
@NonCPS
String rowsText(Map verdict) {
    Map window = Map.isInstance(verdict.window) ? verdict.window as Map : [:]
    return Number.isInstance(window.rows) ? "; ${window.rows} rows in the window" : ''
}

/** `drift, accuracy; 120 rows in the window`: the findings that lack data. */
@NonCPS
String insufficientText(Map verdict) {
    Map findings = Map.isInstance(verdict.findings) ? verdict.findings as Map : [:]
    List lacking = findingNames(findings).findAll { name -> findings[name]?.toString() == 'insufficient_data' }
    return (lacking ? lacking.join(', ') : 'too few rows') + rowsText(verdict)
}

/** An environment name as part of a file name: no slashes or other surprises. */
@NonCPS
String fileSafe(String name) {
    return name.replaceAll('[^A-Za-z0-9._-]', '_')
}

@NonCPS
String toJson(Map result) {
    return JsonOutput.prettyPrint(JsonOutput.toJson(result))
}
