import com.cloudbees.groovy.cps.NonCPS
import groovy.json.JsonSlurperClassic
import org.mlops.jenkins.Shell
import org.mlops.jenkins.StepArgs

/**
 * Runs one `mlops` command with `--output json` and returns its result as a Map.
 * Exit 0 (and any exit listed in `returnCodes`) returns the result; exit 1 (a failed gate or
 * data check) is handled by `onCheckFailure`; any other exit fails the build with the CLI's own message.
 */
Map call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsCli', args, [
        args: [type: List, required: true],
        label: [type: String],
        onCheckFailure: [type: String, default: 'FAILURE', allowed: ['FAILURE', 'UNSTABLE', 'RETURN']],
        credentials: [type: List, default: []],
        step: [type: String, default: 'mlopsCli'],
        returnCodes: [type: List, default: []],
    ])
    if (checked.error) {
        error(checked.error)
    }
    Map cfg = checked.args
    List words = cfg.args.collect { word -> word.toString() }
    if (!words) {
        error("${cfg.step}: 'args' must name an mlops command")
    }
    String resultFile = ".mlops/${words[0]}-result.json"
    String mlops = Shell.join([env.MLOPS_BIN ?: 'mlops'] + words + ['--output', 'json'])
    String command = "mkdir -p .mlops && ${mlops} > ${Shell.quote(resultFile)}"
    int status = 0
    withCredentials(credentialBindings(cfg.credentials)) {
        status = sh(label: cfg.label ?: "mlops ${words.join(' ')}", script: command, returnStatus: true)
    }
    Map result = parseJson(fileExists(resultFile) ? readFile(resultFile) : '')
    result.exitCode = status
    if (status == 0 || cfg.returnCodes.contains(status)) {
        return result
    }
    String reason = result.error ?: "mlops ${words[0]} exited with status ${status}"
    if (status == 1) {
        return checkFailed(cfg.step, result, reason, cfg.onCheckFailure)
    }
    error("${cfg.step}: ${reason}")
}

/** A gate or data check failed: FAILURE (default), UNSTABLE, or hand the result back. */
Map checkFailed(String step, Map result, String reason, String onCheckFailure) {
    if (onCheckFailure == 'RETURN') {
        return result
    }
    currentBuild.description = "${step}: ${firstLine(reason)}"
    if (onCheckFailure == 'UNSTABLE') {
        unstable("${step}: ${reason}")
        return result
    }
    error("${step}: ${reason}")
}

/** Publishes `<outDir>/reports/<name>.xml` to JUnit and archives its JSON twin. */
void publishReports(String outDir, String name) {
    junit(testResults: "${outDir}/reports/${name}.xml", allowEmptyResults: true)
    archiveArtifacts(artifacts: "${outDir}/reports/${name}.*", allowEmptyArchive: true)
}

/** `--config`, `--out-dir` and `--set` words for a step's `config`, `outDir` and `set` arguments. */
List projectArgs(Map cfg) {
    return ['--config', cfg.config, '--out-dir', absolute(cfg.outDir)] + Shell.overrides(cfg.set ?: [:])
}

/** The CLI resolves relative paths from mlops.yaml's folder; steps mean the workspace. */
String absolute(String path) {
    return path.startsWith('/') ? path : "${pwd()}/${path}"
}

/** Binding specs ([type: 'string'|'file'|'usernamePassword', id: ..., variable(s)]) to withCredentials bindings. */
List credentialBindings(List specs) {
    return specs.collect { spec ->
        switch (spec.type) {
            case 'string':
                return string(credentialsId: spec.id, variable: spec.variable)
            case 'file':
                return file(credentialsId: spec.id, variable: spec.variable)
            case 'usernamePassword':
                return usernamePassword(credentialsId: spec.id, usernameVariable: spec.usernameVariable,
                    passwordVariable: spec.passwordVariable)
            default:
                error("mlopsCli: credentials type '${spec.type}' is not one of string, file, usernamePassword")
        }
    }
}

/** readJSON (pipeline-utility-steps) when installed, else Groovy's own parser. */
Map parseJson(String text) {
    if (!text?.trim()) {
        return [:]
    }
    try {
        return readJSON(text: text) as Map
    } catch (NoSuchMethodError ignored) {
        return parseJsonText(text)
    }
}

@NonCPS
private Map parseJsonText(String text) {
    return new JsonSlurperClassic().parseText(text) as Map
}

@NonCPS
private String firstLine(String text) {
    return text.readLines().find { line -> line.trim() } ?: text
}
