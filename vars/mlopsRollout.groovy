import com.cloudbees.groovy.cps.NonCPS
import org.mlops.jenkins.DeployTarget
import org.mlops.jenkins.StepArgs

/**
 * Acts on the rollout in an environment: status, promote, abort, resume, undo (`mlops rollout ...`).
 * promote and resume end like mlopsDeploy (promoted → SUCCESS, aborted → FAILURE, timed out →
 * abort and FAILURE), except that a rollout paused again marks the build UNSTABLE, without an `input`.
 * `target`, `namespace` and `kubeconfigCredentialsId` mean what they mean for mlopsDeploy (DeployTarget),
 * and every command runs through mlopsDeploy.rolloutCli.
 */
Map call(Map args = [:]) {
    Map spec = [
        action: [type: String, required: true, allowed: ['status', 'promote', 'abort', 'resume', 'undo']],
        environment: [type: String, default: 'production'],
        full: [type: Boolean, default: false],
        reason: [type: String],
        timeout: [type: Integer],
        config: [type: String, default: 'mlops.yaml'],
    ] + DeployTarget.spec()
    Map checked = StepArgs.check('mlopsRollout', args, spec)
    String problems = mlopsDeploy.joinProblems('mlopsRollout', checked.error,
        actionProblems(args) + DeployTarget.problems(args))
    if (problems) {
        error(problems)
    }
    Map cfg = checked.args
    List words = ['rollout', cfg.action, '--env', cfg.environment]
    words += cfg.full ? ['--full'] : []
    words += cfg.timeout != null ? ['--timeout', cfg.timeout.toString()] : []
    words += cfg.reason != null ? ['--reason', cfg.reason] : []
    if (cfg.action in ['promote', 'resume']) {
        Map result = mlopsDeploy.rolloutCommand('mlopsRollout', words, cfg)
        return mlopsDeploy.settle('mlopsRollout', result, cfg + [approval: false])
    }
    // status exits 2 when the environment has no rollout: the caller reads `exitCode`.
    Map result = mlopsDeploy.rolloutCli('mlopsRollout', cfg, words, cfg.action == 'status' ? [2] : [])
    if (result.exitCode == 2) {
        echo "mlopsRollout: ${result.error ?: "no rollout in ${cfg.environment}"}"
        return result
    }
    echo "mlopsRollout: ${cfg.action} in ${result.env ?: cfg.environment}: ${result.strategy} ${result.status}, " +
        "stable ${versionText(result.stable)}, candidate ${versionText(result.candidate)}" +
        mlopsDeploy.trafficText(result)
    return result
}

/** Arguments that only some actions take. */
@NonCPS
List actionProblems(Map args) {
    Map only = [full: ['promote'], reason: ['abort'], timeout: ['promote', 'resume']]
    List problems = []
    only.each { key, actions ->
        if (args[key] != null && args[key] != false && !(actions as List).contains(args.action)) {
            problems << "argument '${key}' only applies to action ${(actions as List).join(' or ')}, " +
                "not '${args.action}'"
        }
    }
    return problems
}

@NonCPS
String versionText(Object version) {
    return version == null ? 'none' : "v${version}"
}
