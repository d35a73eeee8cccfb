import com.cloudbees.groovy.cps.NonCPS
import groovy.json.JsonOutput
import org.mlops.jenkins.DeployTarget
import org.mlops.jenkins.Shell
import org.mlops.jenkins.StepArgs

/**
 * Rolls a registered model version out to an environment with `mlops deploy` and turns the
 * outcome into the build result: promoted → SUCCESS; paused → an approval `input`, then
 * `mlops rollout promote` (rejected → `mlops rollout abort`, ABORTED); aborted or rolled
 * back → FAILURE; timed out → `mlops rollout abort`, FAILURE.
 * `target`, `namespace` and `kubeconfigCredentialsId` (DeployTarget) apply to every command of the
 * rollout; the kubeconfig is bound only while a command runs, never during an approval.
 */
Map call(Map args = [:]) {
    String problems = argumentErrors('mlopsDeploy', args)
    if (problems) {
        error(problems)
    }
    Map cfg = StepArgs.check('mlopsDeploy', args, SPEC + DeployTarget.spec()).args
    List words = ['deploy', '--env', cfg.environment]
    // `mlops deploy --version` takes a number or a registry alias (staging, production, latest).
    words += cfg.version != null ? ['--version', cfg.version.toString()] : []
    words += cfg.alias ? ['--version', cfg.alias] : []
    words += cfg.strategy ? ['--strategy', cfg.strategy] : []
    words += timeoutArgs(cfg)
    return settle('mlopsDeploy', rolloutCommand('mlopsDeploy', words, cfg), cfg)
}

/** mlopsDeploy's own arguments; DeployTarget.spec() adds target, namespace and kubeconfigCredentialsId. */
@groovy.transform.Field
static final Map SPEC = [
    strategy: [type: String, allowed: ['recreate', 'ramped', 'bluegreen', 'canary', 'abtest']],
    version: [type: Integer],
    alias: [type: String],
    environment: [type: String, default: 'production'],
    timeout: [type: Integer],
    approval: [type: Boolean, default: true],
    autoPromote: [type: Boolean, default: false],
    approvers: [type: String],
    approvalTimeout: [type: Integer],
    config: [type: String, default: 'mlops.yaml'],
    set: [type: Map, default: [:]],
    outDir: [type: String, default: 'mlops-out'],
]

/**
 * Every problem with mlopsDeploy arguments, as one message starting with `step`, or null.
 * mlopsPipeline checks its `deploy` arguments with it before any stage runs.
 */
@NonCPS
String argumentErrors(String step, Map args) {
    Map checked = StepArgs.check(step, args, SPEC + DeployTarget.spec())
    return joinProblems(step, checked.error, argumentProblems(args) + DeployTarget.problems(args))
}

/**
 * One `mlops` command of a rollout (deploy, rollout status/promote/resume/abort/undo), with the
 * rollout's `--config`, `set` and target overrides; with `kubeconfigCredentialsId`, mlopsCli binds
 * the kubeconfig file to KUBECONFIG around this command alone.
 */
Map rolloutCli(String step, Map cfg, List words, List returnCodes) {
    return mlopsCli(args: words + configArgs(cfg), step: step, returnCodes: returnCodes,
        credentials: DeployTarget.credentials(cfg))
}

/** One rollout command (deploy, rollout promote/resume): exits 0, 1, 3 and 4 return; 2 fails the build. */
Map rolloutCommand(String step, List words, Map cfg) {
    return rolloutCli(step, cfg, words, [1, 3, 4])
}

/**
 * Turns the result of deploy, rollout promote or rollout resume into the build result.
 * A paused rollout (exit 3) is promoted at once when `cfg.autoPromote`, else put to an approval
 * `input` when `cfg.approval` and promoted on approval, as often as it pauses; without either it
 * marks the build UNSTABLE.
 * `cfg`: environment, config, set, timeout, approval, autoPromote, approvers, approvalTimeout, version, alias,
 * outDir, target, namespace, kubeconfigCredentialsId.
 */
Map settle(String step, Map first, Map cfg) {
    Map result = first
    String target = targetOf(result, cfg)
    while (result.exitCode == 3 && (cfg.approval || cfg.autoPromote)) {
        if (cfg.autoPromote) {
            echo "${step}: ${target} paused in ${result.env ?: cfg.environment}: ${pauseReason(result)}" +
                "${trafficText(result)}; promoting it without approval (autoPromote)"
        } else {
            approve(step, result, cfg, target)
        }
        result = rolloutCommand(step, ['rollout', 'promote', '--env', cfg.environment] + timeoutArgs(cfg), cfg)
        target = targetOf(result, cfg, target)
    }
    String where = "${result.env ?: cfg.environment}"
    String strategy = result.strategy ?: cfg.strategy ?: 'rollout'
    record(cfg, result)
    switch (result.exitCode) {
        case 0:
            currentBuild.description = "${strategy}: ${target} promoted in ${where}"
            echo "${step}: ${strategy} of ${target} promoted in ${where}${trafficText(result)}"
            return result
        case 3:
            currentBuild.description = "${strategy}: ${target} paused in ${where}"
            unstable("${step}: ${strategy} of ${target} paused in ${where}: ${pauseReason(result)}; " +
                "continue with `mlops rollout promote --env ${where}` or stop with `mlops rollout abort`")
            return result
        case 1:
            String outcome = (result.status ?: 'aborted').toString().replace('_', ' ')
            currentBuild.description = "${strategy}: ${target} ${outcome} in ${where}"
            echo "${step}: ${strategy} of ${target} ${outcome} in ${where}${trafficText(result)}"
            error("${step}: rollout of ${target} ${outcome}: ${result.reason ?: result.error ?: 'no reason given'}")
            break
        case 4:
            String limit = cfg.timeout ? " after ${cfg.timeout} s" : ''
            echo "${step}: ${strategy} of ${target} timed out${limit} in ${where} (${result.status}); aborting it"
            record(cfg, abortRollout(step, cfg, 'timed out in Jenkins'))
            currentBuild.description = "${strategy}: ${target} timed out in ${where}"
            error("${step}: rollout of ${target} timed out${limit} in ${where}; aborted: all traffic back on " +
                "${result.stable ? 'v' + result.stable : 'the stable version'}")
            break
        default:
            error("${step}: mlops exited with unexpected status ${result.exitCode}")
    }
}

/** The approval `input` for a paused rollout; rejected or timed out: the rollout is aborted, the build ABORTED. */
void approve(String step, Map result, Map cfg, String target) {
    String where = "${result.env ?: cfg.environment}"
    echo "${step}: ${target} paused in ${where}: ${pauseReason(result)}${trafficText(result)}"
    String message = "Promote ${target} in ${where}? reason: ${pauseReason(result)}${trafficText(result)}"
    try {
        if (cfg.approvalTimeout) {
            timeout(time: cfg.approvalTimeout, unit: 'MINUTES') {
                input(message: message, ok: 'Promote', submitter: cfg.approvers)
            }
        } else {
            input(message: message, ok: 'Promote', submitter: cfg.approvers)
        }
    } catch (InterruptedException interruption) {
        // Rejected, timed out or the build stopped: the candidate must not keep its share of traffic.
        String why = interruptionReason(interruption)
        echo "${step}: ${target} not promoted in ${where} (${why}); aborting the rollout"
        record(cfg, abortRollout(step, cfg, why))
        currentBuild.description = "${result.strategy ?: cfg.strategy ?: 'rollout'}: ${target} aborted in ${where} " +
            "(${why})"
        throw interruption
    }
}

/** `mlops rollout abort`: all traffic back to the stable version at once. */
Map abortRollout(String step, Map cfg, String reason) {
    return rolloutCli(step, cfg, ['rollout', 'abort', '--env', cfg.environment, '--reason', reason], [])
}

/** Writes the final state to `<outDir>/reports/deploy-<environment>.json` and archives it (when outDir is set). */
void record(Map cfg, Map result) {
    if (cfg.outDir) {
        String file = "${cfg.outDir}/reports/deploy-${cfg.environment}.json"
        writeFile(file: file, text: toJson(result))
        archiveArtifacts(artifacts: file, allowEmptyArchive: true)
    }
}

/** The same config, `set` overrides and target (`--set deploy.target=...`) for every command of one rollout. */
List configArgs(Map cfg) {
    return ['--config', cfg.config] + Shell.overrides(cfg.set ?: [:]) + DeployTarget.overrides(cfg)
}

List timeoutArgs(Map cfg) {
    return cfg.timeout != null ? ['--timeout', cfg.timeout.toString()] : []
}

/** Problems StepArgs cannot see: exclusive and positive arguments (the target's: DeployTarget.problems). */
@NonCPS
List argumentProblems(Map args) {
    List problems = []
    if (args.version != null && args.alias != null) {
        problems << "give 'version' or 'alias', not both"
    }
    if (args.autoPromote == true) {
        // A pause is promoted without asking: arguments about asking would silently do nothing.
        List asking = ['approval', 'approvers', 'approvalTimeout'].findAll { key -> args[key] != null }
        if (asking) {
            problems << "argument 'autoPromote' promotes pauses without asking: drop " +
                asking.collect { key -> "'${key}'" }.join(', ')
        }
    }
    ['version', 'timeout', 'approvalTimeout'].each { key ->
        if (Integer.isInstance(args[key]) && args[key] < 1) {
            problems << "argument '${key}' must be at least 1, got ${args[key]}"
        }
    }
    return problems
}

@NonCPS
String joinProblems(String step, String stepArgsError, List more) {
    if (!more) {
        return stepArgsError
    }
    return (stepArgsError ?: "${step}:") + (stepArgsError ? '; ' : ' ') + more.join('; ')
}

/** `v4`: the candidate of the rollout (after promotion, the new stable), else what the step was asked for. */
@NonCPS
String targetOf(Map result, Map cfg, String known = null) {
    if (known) {
        return known
    }
    if (result.candidate != null) {
        return "v${result.candidate}"
    }
    if (result.exitCode == 0 && result.stable != null) {
        return "v${result.stable}"
    }
    if (cfg.version != null) {
        return "v${cfg.version}"
    }
    return cfg.alias ? "@${cfg.alias.toString().replaceFirst('^@', '')}" : 'the new version'
}

@NonCPS
String pauseReason(Map result) {
    if (result.reason) {
        return result.reason.toString()
    }
    Map step = Map.isInstance(result.step) ? result.step as Map : [:]
    if (Number.isInstance(step.index) && step.total) {
        return "paused at step ${(step.index as int) + 1}/${step.total} (${step.name})"
    }
    return 'paused'
}

/** ` (traffic: v3 80%, v4 20%)`, or nothing. */
@NonCPS
String trafficText(Map result) {
    Map weights = Map.isInstance(result.weights) ? result.weights as Map : [:]
    if (!weights) {
        return ''
    }
    return " (traffic: ${weights.collect { version, weight -> "v${version} ${weight}%" }.join(', ')})"
}

/**
 * Why an `input` was interrupted, for `mlops rollout abort --reason`: `rejected in Jenkins by alice`,
 * `approval timed out in Jenkins`, `aborted in Jenkins by bob`. Jenkins gives CauseOfInterruption
 * objects (Rejection, ExceededTimeout, UserInterruption), read through their short description.
 */
@NonCPS
String interruptionReason(Throwable interruption) {
    List causes = interruption.hasProperty('causes') ? (interruption.causes ?: []) as List : []
    List texts = causes.collect { cause ->
        (CharSequence.isInstance(cause) ? cause : cause.shortDescription).toString()
    }
    String rejected = texts.find { text -> text.startsWith('Rejected by ') }
    if (rejected) {
        return "rejected in Jenkins by ${rejected.substring('Rejected by '.length())}"
    }
    String stopped = texts.find { text -> text.startsWith('Aborted by ') }
    if (stopped) {
        return "aborted in Jenkins by ${stopped.substring('Aborted by '.length())}"
    }
    if (texts.any { text -> text.toLowerCase().contains('timeout') }) {
        return 'approval timed out in Jenkins'
    }
    return texts ? "interrupted in Jenkins: ${texts.join('; ')}" : 'interrupted in Jenkins'
}

@NonCPS
String toJson(Map result) {
    return JsonOutput.prettyPrint(JsonOutput.toJson(result))
}
