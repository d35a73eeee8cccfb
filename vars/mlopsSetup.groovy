import com.cloudbees.groovy.cps.NonCPS
import org.mlops.jenkins.Shell
import org.mlops.jenkins.StepArgs

/**
 * Puts the `mlops` helper package on the agent, at exactly the version of the library
 * in use (library tag v1.2.0 gives helpers 1.2.0), in a virtualenv in the workspace that
 * later builds reuse. Sets env.MLOPS_BIN for the other mlops* steps.
 */
Map call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsSetup', args, [
        version: [type: String],
        packageSpec: [type: String],
        packageIndex: [type: String],
        pipArgs: [type: List, default: []],
        venv: [type: String, default: '.mlops-venv'],
        python: [type: String, default: 'python3'],
        preinstalled: [type: Boolean, default: false],
    ])
    if (checked.error) {
        error(checked.error)
    }
    Map cfg = checked.args
    String version = cfg.version ?: releaseVersion(env['library.mlops.version'])
    if (!version && !cfg.packageSpec && !cfg.preinstalled) {
        error("mlopsSetup: the library version '${env['library.mlops.version']}' is not a release tag (vX.Y.Z); " +
            "pass 'version', 'packageSpec' or 'preinstalled: true'")
    }
    if (cfg.preinstalled) {
        env.MLOPS_BIN = 'mlops'
        return [bin: 'mlops', version: checkVersion('mlops', version), reused: true]
    }
    String bin = "${pwd()}/${cfg.venv}/bin/mlops"
    if (version && installedVersion(bin) == version) {
        echo "mlopsSetup: reusing ${cfg.venv} (mlops ${version})"
        env.MLOPS_BIN = bin
        return [bin: bin, version: version, reused: true]
    }
    List pip = ["${cfg.venv}/bin/pip", 'install', '--quiet', '--disable-pip-version-check']
    if (cfg.packageIndex) {
        pip += ['--index-url', cfg.packageIndex]
    }
    pip += cfg.pipArgs + [cfg.packageSpec ?: "mlops-helpers==${version}"]
    sh(label: "Install mlops ${version ?: cfg.packageSpec} in ${cfg.venv}",
        script: "${Shell.join([cfg.python, '-m', 'venv', cfg.venv])} && ${Shell.join(pip)}")
    env.MLOPS_BIN = bin
    return [bin: bin, version: checkVersion(bin, version), reused: false]
}

/** Version printed by `mlops --version`, or null when that binary is absent or broken. */
String installedVersion(String bin) {
    String out = sh(label: 'mlops --version', returnStdout: true,
        script: "${Shell.quote(bin)} --version 2>/dev/null || true").trim()
    return out.tokenize(' ') ? out.tokenize(' ').last() : null
}

String checkVersion(String bin, String expected) {
    String found = installedVersion(bin)
    if (!found) {
        error("mlopsSetup: '${bin} --version' gave no version: the helper package is not installed")
    }
    if (expected && found != expected) {
        error("mlopsSetup: found mlops ${found} but the library needs ${expected}")
    }
    return found
}

/** `v1.2.0` or `1.2.0` gives `1.2.0`; a branch name or commit gives null. */
@NonCPS
String releaseVersion(String libraryVersion) {
    def match = (libraryVersion ?: '') =~ /^v?(\d+\.\d+\.\d+(?:[.-]?\w+)?)$/
    return match.matches() ? match.group(1) : null
}
