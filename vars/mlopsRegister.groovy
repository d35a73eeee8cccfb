import org.mlops.jenkins.StepArgs

/** Registers the trained artefact as a new immutable version in the model registry. */
Map call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsRegister', args, [
        config: [type: String, default: 'mlops.yaml'],
        set: [type: Map, default: [:]],
        artefact: [type: String],
        outDir: [type: String, default: 'mlops-out'],
        stage: [type: String, default: 'staging', allowed: ['staging', 'production', 'none']],
    ])
    if (checked.error) {
        error(checked.error)
    }
    Map cfg = checked.args
    List words = ['register', '--stage', cfg.stage] + mlopsCli.projectArgs(cfg)
    Map result = mlopsCli(args: words + (cfg.artefact ? ['--artefact', cfg.artefact] : []), step: 'mlopsRegister')
    currentBuild.description = "${result.name} v${result.version} (${cfg.stage})"
    return result
}
