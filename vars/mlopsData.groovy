import org.mlops.jenkins.StepArgs

/** Data versioning with DVC: status, pull (optionally the version at a git revision), push, add. */
Map call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsData', args, [
        action: [type: String, default: 'pull', allowed: ['status', 'pull', 'push', 'add']],
        config: [type: String, default: 'mlops.yaml'],
        rev: [type: String],
    ])
    if (checked.error) {
        error(checked.error)
    }
    Map cfg = checked.args
    if (cfg.rev && cfg.action != 'pull') {
        error("mlopsData: 'rev' only applies to action 'pull', not '${cfg.action}'")
    }
    List words = ['data', cfg.action, '--config', cfg.config] + (cfg.rev ? ['--rev', cfg.rev] : [])
    Map result = mlopsCli(args: words, step: 'mlopsData')
    if (result.data?.md5) {
        echo "mlopsData: ${result.data.path} at data version ${result.data.md5}"
    }
    return result
}
