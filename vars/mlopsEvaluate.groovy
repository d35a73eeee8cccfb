import org.mlops.jenkins.StepArgs

/** Applies the validation gates (thresholds, non-regression against production); JUnit per gate. */
Map call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsEvaluate', args, [
        config: [type: String, default: 'mlops.yaml'],
        set: [type: Map, default: [:]],
        artefact: [type: String],
        outDir: [type: String, default: 'mlops-out'],
        onFailure: [type: String, default: 'FAILURE', allowed: ['FAILURE', 'UNSTABLE']],
    ])
    if (checked.error) {
        error(checked.error)
    }
    Map cfg = checked.args
    List words = ['evaluate'] + mlopsCli.projectArgs(cfg)
    Map result = mlopsCli(args: words + (cfg.artefact ? ['--artefact', cfg.artefact] : []), onCheckFailure: 'RETURN',
        step: 'mlopsEvaluate')
    mlopsCli.publishReports(cfg.outDir, 'evaluation')
    if (result.exitCode == 1) {
        return mlopsCli.checkFailed('mlopsEvaluate', result, result.error, cfg.onFailure)
    }
    return result
}
