import org.mlops.jenkins.StepArgs

/** Checks data against the schema kept in git; publishes a per-column JUnit report. */
Map call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsValidateData', args, [
        config: [type: String, default: 'mlops.yaml'],
        set: [type: Map, default: [:]],
        data: [type: String],
        outDir: [type: String, default: 'mlops-out'],
        onFailure: [type: String, default: 'FAILURE', allowed: ['FAILURE', 'UNSTABLE']],
    ])
    if (checked.error) {
        error(checked.error)
    }
    Map cfg = checked.args
    List words = ['data', 'validate'] + mlopsCli.projectArgs(cfg)
    Map result = mlopsCli(args: words + (cfg.data ? ['--data', cfg.data] : []), onCheckFailure: 'RETURN',
        step: 'mlopsValidateData')
    mlopsCli.publishReports(cfg.outDir, 'data-validation')
    if (result.exitCode == 1) {
        return mlopsCli.checkFailed('mlopsValidateData', result, result.error, cfg.onFailure)
    }
    return result
}
