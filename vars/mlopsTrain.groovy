import org.mlops.jenkins.StepArgs

/** Trains the model from mlops.yaml (hyper-parameters overridable with `set`); archives the artefact. */
Map call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsTrain', args, [
        config: [type: String, default: 'mlops.yaml'],
        set: [type: Map, default: [:]],
        outDir: [type: String, default: 'mlops-out'],
        archive: [type: Boolean, default: true],
    ])
    if (checked.error) {
        error(checked.error)
    }
    Map cfg = checked.args
    List words = ['train'] + mlopsCli.projectArgs(cfg)
    Map result = mlopsCli(args: words, step: 'mlopsTrain')
    if (cfg.archive) {
        archiveArtifacts(artifacts: "${cfg.outDir}/model/**", fingerprint: true)
    }
    echo "mlopsTrain: ${result.metrics}"
    return result
}
