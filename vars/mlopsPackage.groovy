import org.mlops.jenkins.StepArgs

/**
 * Builds the model version's container image, checks that it serves the same predictions
 * (infra validation), pushes it and records the digest in the model registry.
 */
Map call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsPackage', args, [
        config: [type: String, default: 'mlops.yaml'],
        model: [type: String, default: '@staging'],
        baseImage: [type: String],
        registry: [type: String],
        registryCredentialsId: [type: String],
        push: [type: Boolean, default: true],
        verify: [type: Boolean, default: true],
        templates: [type: String],
    ])
    if (checked.error) {
        error(checked.error)
    }
    Map cfg = checked.args
    List words = ['package', '--config', cfg.config, '--model', cfg.model,
        cfg.push ? '--push' : '--no-push', cfg.verify ? '--verify' : '--no-verify']
    words += cfg.baseImage ? ['--base-image', cfg.baseImage] : []
    words += cfg.registry ? ['--registry', cfg.registry] : []
    words += cfg.templates ? ['--templates', cfg.templates] : []
    // Registry credentials reach the CLI only as environment variables of this one command.
    List credentials = cfg.registryCredentialsId ? [[type: 'usernamePassword', id: cfg.registryCredentialsId,
        usernameVariable: 'MLOPS_REGISTRY_USERNAME', passwordVariable: 'MLOPS_REGISTRY_PASSWORD']] : []
    Map result = mlopsCli(args: words, credentials: credentials, step: 'mlopsPackage')
    currentBuild.description = result.pushed ? "${result.image}@${result.digest}" : "${result.tags[0]} (not pushed)"
    return result
}
