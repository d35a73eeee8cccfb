import com.cloudbees.groovy.cps.NonCPS
import org.mlops.jenkins.StepArgs

/**
 * The whole ML pipeline from mlops.yaml as one declarative pipeline:
 * set up, data, [monitor], validate data, train, evaluate, register (staging), [package], approve, promote, [deploy];
 * with `deploy.staging`: deploy to staging, approve production, deploy to production instead of approve and deploy.
 * `schedule` adds a cron trigger; with `monitor`, a build started by the timer checks the serving model first
 * (mlopsMonitor) and trains only when the verdict is retrain.
 * `mlopsPipeline(config: 'mlops.yaml')` is a complete Jenkinsfile.
 */
void call(Map args = [:]) {
    Map checked = StepArgs.check('mlopsPipeline', args, [
        config: [type: String, default: 'mlops.yaml'],
        approval: [type: Boolean, default: true],
        approvers: [type: String],
        agent: [type: String, default: 'any'],
        podTemplate: [type: String, default: 'org/mlops/jenkins/agent-pod.yaml'],
        onGateFailure: [type: String, default: 'FAILURE', allowed: ['FAILURE', 'UNSTABLE']],
        timeoutMinutes: [type: Integer, default: 60],
        setup: [type: Map, default: [:]],
        packaging: [type: Map],
        deploy: [type: Map],
        schedule: [type: String],
        monitor: [type: Map],
    ])
    if (checked.error) {
        error(checked.error)
    }
    if (args.deploy?.containsKey('version') || args.deploy?.containsKey('alias')) {
        error("mlopsPipeline: 'deploy' must not set 'version' or 'alias': it deploys the version it registered")
    }
    Map cfg = checked.args
    // The schedule and the monitor arguments are checked now, not at the first timer build.
    String scheduleError = scheduleProblem(cfg.schedule)
    String monitorError = monitorProblems(cfg)
    if (scheduleError || monitorError) {
        error(scheduleError && monitorError ? "${scheduleError}; ${monitorError}" : scheduleError ?: monitorError)
    }
    if (staged(cfg)) {
        // Both rollouts' arguments are checked now, not after an hour of training (or after staging).
        String problems = stagingProblems(cfg)
        if (problems) {
            error(problems)
        }
    }
    // Declarative agents cannot be chosen inside `agent {}`, nor can `triggers {}` be left out
    // conditionally, so each kind of agent, with and without a schedule, has its own pipeline block;
    // all four run the same stages through runStage(). (`cron('')` would do without the second pair,
    // but it would replace a timer configured in the job on every existing pipeline.)
    if (cfg.agent == 'kubernetes') {
        String podYaml = libraryResource(cfg.podTemplate)
        if (cfg.schedule) {
            scheduledKubernetesPipeline(cfg, podYaml)
        } else {
            kubernetesPipeline(cfg, podYaml)
        }
    } else if (cfg.schedule) {
        scheduledLabelPipeline(cfg, cfg.agent == 'any' ? '' : cfg.agent)
    } else {
        labelPipeline(cfg, cfg.agent == 'any' ? '' : cfg.agent)
    }
}

void labelPipeline(Map cfg, String agentLabel) {
    Map state = [:]
    pipeline {
        agent { label agentLabel }
        options {
            timeout(time: cfg.timeoutMinutes, unit: 'MINUTES')
            disableConcurrentBuilds()
        }
        parameters {
            string(name: 'HYPERPARAMETERS', defaultValue: '', description: OVERRIDES_HELP)
            string(name: 'DATA_REV', defaultValue: '', description: DATA_REV_HELP)
        }
        stages {
            stage('Set up') { steps { script { runStage('Set up', cfg, state) } } }
            stage('Data') { steps { script { runStage('Data', cfg, state) } } }
            stage('Monitor') {
                // Only in a build started by the timer; it decides whether the training stages run.
                when { expression { cfg.monitor != null && startedByTimer() } }
                steps { script { runStage('Monitor', cfg, state) } }
            }
            stage('Validate data') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Validate data', cfg, state) } }
            }
            stage('Train') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Train', cfg, state) } }
            }
            stage('Evaluate') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Evaluate', cfg, state) } }
            }
            stage('Register') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Register', cfg, state) } }
            }
            stage('Package') {
                when { expression { cfg.packaging != null && state.model != null } }
                steps { script { runStage('Package', cfg, state) } }
            }
            stage('Approve') {
                // With deploy.staging the approval comes after staging: 'Approve production'.
                when { expression { cfg.approval && state.model && !staged(cfg) } }
                steps { script { runStage('Approve', cfg, state) } }
            }
            stage('Promote') {
                // With a Deploy stage the rollout moves the alias, and only once the version serves.
                when { expression { state.model != null && cfg.deploy == null } }
                steps { script { runStage('Promote', cfg, state) } }
            }
            stage('Deploy') {
                when { expression { cfg.deploy != null && state.model != null && !staged(cfg) } }
                steps { script { runStage('Deploy', cfg, state) } }
            }
            stage('Deploy to staging') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to staging', cfg, state) } }
            }
            stage('Approve production') {
                when { expression { cfg.approval && staged(cfg) && state.model != null } }
                steps { script { runStage('Approve production', cfg, state) } }
            }
            stage('Deploy to production') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to production', cfg, state) } }
            }
        }
        post {
            always { script { runStage('Report', cfg, state) } }
        }
    }
}

void kubernetesPipeline(Map cfg, String podYaml) {
    Map state = [:]
    pipeline {
        agent {
            kubernetes {
                yaml podYaml
                defaultContainer 'mlops'
            }
        }
        options {
            timeout(time: cfg.timeoutMinutes, unit: 'MINUTES')
            disableConcurrentBuilds()
        }
        parameters {
            string(name: 'HYPERPARAMETERS', defaultValue: '', description: OVERRIDES_HELP)
            string(name: 'DATA_REV', defaultValue: '', description: DATA_REV_HELP)
        }
        stages {
            stage('Set up') { steps { script { runStage('Set up', cfg, state) } } }
            stage('Data') { steps { script { runStage('Data', cfg, state) } } }
            stage('Monitor') {
                // Only in a build started by the timer; it decides whether the training stages run.
                when { expression { cfg.monitor != null && startedByTimer() } }
                steps { script { runStage('Monitor', cfg, state) } }
            }
            stage('Validate data') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Validate data', cfg, state) } }
            }
            stage('Train') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Train', cfg, state) } }
            }
            stage('Evaluate') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Evaluate', cfg, state) } }
            }
            stage('Register') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Register', cfg, state) } }
            }
            stage('Package') {
                when { expression { cfg.packaging != null && state.model != null } }
                steps { script { runStage('Package', cfg, state) } }
            }
            stage('Approve') {
                // With deploy.staging the approval comes after staging: 'Approve production'.
                when { expression { cfg.approval && state.model && !staged(cfg) } }
                steps { script { runStage('Approve', cfg, state) } }
            }
            stage('Promote') {
                // With a Deploy stage the rollout moves the alias, and only once the version serves.
                when { expression { state.model != null && cfg.deploy == null } }
                steps { script { runStage('Promote', cfg, state) } }
            }
            stage('Deploy') {
                when { expression { cfg.deploy != null && state.model != null && !staged(cfg) } }
                steps { script { runStage('Deploy', cfg, state) } }
            }
            stage('Deploy to staging') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to staging', cfg, state) } }
            }
            stage('Approve production') {
                when { expression { cfg.approval && staged(cfg) && state.model != null } }
                steps { script { runStage('Approve production', cfg, state) } }
            }
            stage('Deploy to production') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to production', cfg, state) } }
            }
        }
        post {
            always { script { runStage('Report', cfg, state) } }
        }
    }
}

/** labelPipeline with `triggers { cron(cfg.schedule) }`: keep the stages of all four pipeline blocks the same. */
void scheduledLabelPipeline(Map cfg, String agentLabel) {
    Map state = [:]
    pipeline {
        agent { label agentLabel }
        options {
            timeout(time: cfg.timeoutMinutes, unit: 'MINUTES')
            disableConcurrentBuilds()
        }
        parameters {
            string(name: 'HYPERPARAMETERS', defaultValue: '', description: OVERRIDES_HELP)
            string(name: 'DATA_REV', defaultValue: '', description: DATA_REV_HELP)
        }
        triggers {
            cron(cfg.schedule)
        }
        stages {
            stage('Set up') { steps { script { runStage('Set up', cfg, state) } } }
            stage('Data') { steps { script { runStage('Data', cfg, state) } } }
            stage('Monitor') {
                // Only in a build started by the timer; it decides whether the training stages run.
                when { expression { cfg.monitor != null && startedByTimer() } }
                steps { script { runStage('Monitor', cfg, state) } }
            }
            stage('Validate data') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Validate data', cfg, state) } }
            }
            stage('Train') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Train', cfg, state) } }
            }
            stage('Evaluate') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Evaluate', cfg, state) } }
            }
            stage('Register') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Register', cfg, state) } }
            }
            stage('Package') {
                when { expression { cfg.packaging != null && state.model != null } }
                steps { script { runStage('Package', cfg, state) } }
            }
            stage('Approve') {
                // With deploy.staging the approval comes after staging: 'Approve production'.
                when { expression { cfg.approval && state.model && !staged(cfg) } }
                steps { script { runStage('Approve', cfg, state) } }
            }
            stage('Promote') {
                // With a Deploy stage the rollout moves the alias, and only once the version serves.
                when { expression { state.model != null && cfg.deploy == null } }
                steps { script { runStage('Promote', cfg, state) } }
            }
            stage('Deploy') {
                when { expression { cfg.deploy != null && state.model != null && !staged(cfg) } }
                steps { script { runStage('Deploy', cfg, state) } }
            }
            stage('Deploy to staging') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to staging', cfg, state) } }
            }
            stage('Approve production') {
                when { expression { cfg.approval && staged(cfg) && state.model != null } }
                steps { script { runStage('Approve production', cfg, state) } }
            }
            stage('Deploy to production') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to production', cfg, state) } }
            }
        }
        post {
            always { script { runStage('Report', cfg, state) } }
        }
    }
}

/** kubernetesPipeline with `triggers { cron(cfg.schedule) }`: keep the stages of all four pipeline blocks the same. */
void scheduledKubernetesPipeline(Map cfg, String podYaml) {
    Map state = [:]
    pipeline {
        agent {
            kubernetes {
                yaml podYaml
                defaultContainer 'mlops'
            }
        }
        options {
            timeout(time: cfg.timeoutMinutes, unit: 'MINUTES')
            disableConcurrentBuilds()
        }
        parameters {
            string(name: 'HYPERPARAMETERS', defaultValue: '', description: OVERRIDES_HELP)
            string(name: 'DATA_REV', defaultValue: '', description: DATA_REV_HELP)
        }
        triggers {
            cron(cfg.schedule)
        }
        stages {
            stage('Set up') { steps { script { runStage('Set up', cfg, state) } } }
            stage('Data') { steps { script { runStage('Data', cfg, state) } } }
            stage('Monitor') {
                // Only in a build started by the timer; it decides whether the training stages run.
                when { expression { cfg.monitor != null && startedByTimer() } }
                steps { script { runStage('Monitor', cfg, state) } }
            }
            stage('Validate data') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Validate data', cfg, state) } }
            }
            stage('Train') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Train', cfg, state) } }
            }
            stage('Evaluate') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Evaluate', cfg, state) } }
            }
            stage('Register') {
                when { expression { state.skipTraining == null } }
                steps { script { runStage('Register', cfg, state) } }
            }
            stage('Package') {
                when { expression { cfg.packaging != null && state.model != null } }
                steps { script { runStage('Package', cfg, state) } }
            }
            stage('Approve') {
                // With deploy.staging the approval comes after staging: 'Approve production'.
                when { expression { cfg.approval && state.model && !staged(cfg) } }
                steps { script { runStage('Approve', cfg, state) } }
            }
            stage('Promote') {
                // With a Deploy stage the rollout moves the alias, and only once the version serves.
                when { expression { state.model != null && cfg.deploy == null } }
                steps { script { runStage('Promote', cfg, state) } }
            }
            stage('Deploy') {
                when { expression { cfg.deploy != null && state.model != null && !staged(cfg) } }
                steps { script { runStage('Deploy', cfg, state) } }
            }
            stage('Deploy to staging') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to staging', cfg, state) } }
            }
            stage('Approve production') {
                when { expression { cfg.approval && staged(cfg) && state.model != null } }
                steps { script { runStage('Approve production', cfg, state) } }
            }
            stage('Deploy to production') {
                when { expression { staged(cfg) && state.model != null } }
                steps { script { runStage('Deploy to production', cfg, state) } }
            }
        }
        post {
            always { script { runStage('Report', cfg, state) } }
        }
    }
}

/** The body of each stage; `state` carries results from one stage to the next. */
void runStage(String name, Map cfg, Map state) {
    switch (name) {
        case 'Set up':
            Map overrides = parseOverrides(params.HYPERPARAMETERS ?: '')
            if (overrides.invalid) {
                error("mlopsPipeline: HYPERPARAMETERS items ${overrides.invalid} are not KEY.PATH=VALUE " +
                    '(e.g. training.params.max_depth=5)')
            }
            state.overrides = overrides.values
            state.setup = mlopsSetup(cfg.setup)
            break
        case 'Data':
            mlopsData(action: 'pull', config: cfg.config, rev: params.DATA_REV ?: null)
            break
        case 'Monitor':
            // A build started by the timer: train only when monitoring says retrain (and, with `act`, the
            // trigger's cool-down and de-duplication let it); otherwise the training stages are skipped.
            state.monitor = mlopsMonitor(monitorStepArgs(cfg))
            state.skipTraining = trainingSkipReason(state.monitor,
                mlopsMonitor.heldBack(cfg.monitor.act == true, state.monitor))
            String decision = state.skipTraining ? "training skipped (${state.skipTraining})" : 'retraining'
            echo "mlopsPipeline: build started by the timer: ${decision}"
            state.monitorNote = "${currentBuild.description ?: 'monitoring'}; scheduled build: ${decision}".toString()
            currentBuild.description = state.monitorNote
            break
        case 'Validate data':
            mlopsValidateData(config: cfg.config, set: state.overrides, onFailure: cfg.onGateFailure)
            break
        case 'Train':
            state.training = mlopsTrain(config: cfg.config, set: state.overrides)
            break
        case 'Evaluate':
            state.evaluation = mlopsEvaluate(config: cfg.config, set: state.overrides, onFailure: cfg.onGateFailure)
            break
        case 'Register':
            // An UNSTABLE gate lets the build finish, but such a model is never registered.
            if ((currentBuild.result ?: 'SUCCESS') == 'SUCCESS') {
                state.model = mlopsRegister(config: cfg.config, set: state.overrides, stage: 'staging')
            } else {
                echo "mlopsPipeline: build is ${currentBuild.result}: the model is not registered"
            }
            break
        case 'Package':
            state.image = mlopsPackage([config: cfg.config, model: "@${state.model.version}"] + cfg.packaging)
            break
        case 'Approve':
            input(message: "Promote ${state.model.name} v${state.model.version} to production?", ok: 'Promote',
                submitter: cfg.approvers)
            break
        case 'Promote':
            mlopsCli(args: ['registry', 'promote', "${state.model.name}@${state.model.version}", '--to', 'production',
                '--config', cfg.config], step: 'mlopsPipeline')
            currentBuild.description = "${state.model.name} v${state.model.version} in production"
            break
        case 'Deploy':
        case 'Deploy to production':
            // The rollout's pauses go to the pipeline's approvers unless `deploy` says otherwise.
            state.deployment = mlopsDeploy(productionDeployArgs(cfg, state.model.version as Integer))
            break
        case 'Deploy to staging':
            // Nobody is asked in staging: its pauses are promoted at once (autoPromote), its analyses still
            // decide; the human decision is 'Approve production'.
            state.staging = mlopsDeploy(stagingDeployArgs(cfg, state.model.version as Integer))
            break
        case 'Approve production':
            // Rejected: the build ends ABORTED here; production is never touched, staging keeps the version.
            String model = "${state.model.name} v${state.model.version}"
            try {
                input(message: "Promote ${model} to production? ${stagingText(cfg, state.staging)}", ok: 'Promote',
                    submitter: cfg.approvers)
            } catch (InterruptedException rejected) {
                String why = mlopsDeploy.interruptionReason(rejected)
                echo "mlopsPipeline: ${model} not promoted to production (${why}); production is unchanged, " +
                    'staging keeps the new version'
                currentBuild.description = "${model} in staging, not promoted to production (${why})"
                throw rejected
            }
            break
        case 'Report':
            // A scheduled retraining keeps why it ran next to what it did ("iris v5 in production; monitoring: ...").
            if (state.monitorNote && currentBuild.description != state.monitorNote) {
                currentBuild.description = currentBuild.description ?
                    "${currentBuild.description}; ${state.monitorNote}" : state.monitorNote
            }
            archiveArtifacts(artifacts: '.mlops/*.json', allowEmptyArchive: true)
            break
        default:
            error("mlopsPipeline: no stage named '${name}'")
    }
}

/** True when Jenkins' timer started this build (the `schedule`, or a timer configured in the job). */
boolean startedByTimer() {
    return currentBuild.getBuildCauses(TIMER_CAUSE) ? true : false
}

/** Why a timer-started build skips training after the Monitor stage, or null to train. */
@NonCPS
String trainingSkipReason(Map verdict, String heldBack) {
    switch (verdict.exitCode) {
        case 1:
            return heldBack
        case 3:
            return 'not enough data to decide'
        default:
            return 'no retraining needed'
    }
}

/**
 * mlopsMonitor's arguments for the Monitor stage: the pipeline's config, then `monitor`; a retrain
 * verdict leaves the build SUCCESS (onRetrain 'success'): the pipeline's own stages retrain.
 */
@NonCPS
Map monitorStepArgs(Map cfg) {
    Map args = [config: cfg.config]
    cfg.monitor.each { key, value ->
        if (!MONITOR_OWNED.contains(key.toString())) {
            args[key] = value
        }
    }
    args.onRetrain = 'success'
    return args
}

/** Every problem with `monitor`, as one message, or null. */
String monitorProblems(Map cfg) {
    if (cfg.monitor == null) {
        return null
    }
    String stepErrors = mlopsMonitor.argumentErrors('mlopsPipeline: monitor', monitorStepArgs(cfg))
    return joinMonitorProblems(stepErrors, cfg.monitor)
}

@NonCPS
String joinMonitorProblems(String stepErrors, Map monitor) {
    List owned = MONITOR_OWNED.findAll { key -> monitor.containsKey(key) }.collect { key ->
        "argument '${key}' does not apply: a build started by the timer runs the training stages itself " +
            'when the verdict is retrain'
    }
    if (!owned) {
        return stepErrors
    }
    return (stepErrors ?: 'mlopsPipeline: monitor:') + (stepErrors ? '; ' : ' ') + owned.join('; ')
}

/**
 * Why `schedule` is not a Jenkins cron spec, or null (also for no schedule). Each line (blank lines,
 * `# comments` and a `TZ=Zone` line aside) is an alias (@hourly, @daily, ...) or five fields of
 * `*`, `H`, `H(a-b)`, numbers, ranges `a-b`, steps `/n` and lists `a,b` within each field's range.
 */
@NonCPS
String scheduleProblem(String schedule) {
    if (schedule == null) {
        return null
    }
    List lines = schedule.readLines().collect { line -> line.trim() }.findAll { line ->
        line && !line.startsWith('#') && !(line ==~ /TZ=\S+/)
    }
    String bad = lines ? lines.find { line -> !cronLineOk(line) } : schedule
    if (bad == null) {
        return null
    }
    String which = lines.size() > 1 ? " (line '${bad}')" : ''
    return "mlopsPipeline: argument 'schedule' is '${schedule}', not a Jenkins cron spec${which}: give five fields " +
        "MINUTE HOUR DOM MONTH DOW (e.g. 'H 2 * * *', 'H */4 * * *') or one of ${CRON_ALIASES.join(', ')}"
}

@NonCPS
boolean cronLineOk(String line) {
    if (line.startsWith('@')) {
        return CRON_ALIASES.contains(line)
    }
    List fields = line.split(/\s+/) as List
    if (fields.size() != CRON_RANGES.size()) {
        return false
    }
    return (0..<fields.size()).every { i -> cronFieldOk(fields[i] as String, CRON_RANGES[i] as List) }
}

/** One field: a comma-separated list of `*`, `H`, `H(a-b)`, `a-b`, each with an optional `/step`, or `n`. */
@NonCPS
boolean cronFieldOk(String field, List range) {
    return field.split(',', -1).every { term -> cronTermOk(term, range[0] as int, range[1] as int) }
}

@NonCPS
boolean cronTermOk(String term, int min, int max) {
    if (term ==~ /\d{1,4}/) {
        return (term as int) >= min && (term as int) <= max
    }
    // Groups: 1, 2: H(a-b); 3, 4: a-b; 5: /step.
    java.util.regex.Matcher m = term =~ /^(?:\*|H(?:\((\d{1,4})-(\d{1,4})\))?|(\d{1,4})-(\d{1,4}))(?:\/(\d{1,4}))?$/
    if (!m.matches()) {
        return false
    }
    boolean rangesOk = [[1, 2], [3, 4]].every { pair ->
        String from = m.group(pair[0] as int)
        String to = m.group(pair[1] as int)
        from == null || ((from as int) >= min && (to as int) <= max && (from as int) <= (to as int))
    }
    return rangesOk && (m.group(5) == null || (m.group(5) as int) >= 1)
}

/** True when `deploy.staging` asks for the staging → approval → production stages. */
@NonCPS
boolean staged(Map cfg) {
    return cfg.deploy != null && cfg.deploy.staging != null
}

/** The staging Map's keys, then the arguments both rollouts will get, as one message, or null. */
String stagingProblems(Map cfg) {
    Object staging = cfg.deploy.staging
    if (!Map.isInstance(staging)) {
        return "mlopsPipeline: argument 'deploy.staging' must be a Map, got ${staging.getClass().simpleName} " +
            "'${staging}'"
    }
    String keyProblems = StepArgs.check('mlopsPipeline: deploy.staging', staging as Map, STAGING_SPEC).error
    if (keyProblems) {
        return keyProblems
    }
    Map stagingArgs = stagingDeployArgs(cfg, null)
    Map productionArgs = productionDeployArgs(cfg, null)
    List problems = []
    String production = mlopsDeploy.argumentErrors('mlopsPipeline: deploy', productionArgs)
    if (production) {
        problems << production
    }
    String stagingError = mlopsDeploy.argumentErrors('mlopsPipeline: deploy.staging', stagingArgs)
    if (stagingError) {
        problems << stagingError
    }
    if (stagingArgs.environment == (productionArgs.environment ?: 'production')) {
        problems << "mlopsPipeline: deploy.staging: 'environment' is '${stagingArgs.environment}', the environment " +
            "'deploy' rolls out to; staging needs an environment of its own"
    }
    return problems ? problems.join('; ') : null
}

/** mlopsDeploy's arguments for production: the pipeline's config and approval, then `deploy` without `staging`. */
@NonCPS
Map productionDeployArgs(Map cfg, Integer version) {
    Map args = [config: cfg.config, approval: cfg.approval, approvers: cfg.approvers]
    if (version != null) {
        args.version = version
    }
    cfg.deploy.each { key, value ->
        if (key != 'staging') {
            args[key] = value
        }
    }
    return args
}

/**
 * mlopsDeploy's arguments for staging: the staging Map's environment, strategy, namespace and
 * kubeconfigCredentialsId (default: deploy's); config, target, timeout, set and outDir as for production;
 * pauses promoted without an `input` (autoPromote).
 */
@NonCPS
Map stagingDeployArgs(Map cfg, Integer version) {
    Map deploy = cfg.deploy
    Map staging = StepArgs.check('mlopsPipeline: deploy.staging', deploy.staging as Map, STAGING_SPEC).args
    Map args = [config: cfg.config]
    STAGING_SHARES.each { key ->
        if (deploy.containsKey(key)) {
            args[key] = deploy[key]
        }
    }
    args += [environment: staging.environment, strategy: staging.strategy, autoPromote: true]
    if (version != null) {
        args.version = version
    }
    if (staging.namespace != null) {
        args.namespace = staging.namespace
    }
    Object credentialsId = staging.kubeconfigCredentialsId ?: deploy.kubeconfigCredentialsId
    if (credentialsId != null) {
        args.kubeconfigCredentialsId = credentialsId
    }
    return args
}

/** `It is live in staging (namespace models-staging) at http://...`, for the production approval. */
@NonCPS
String stagingText(Map cfg, Map result) {
    Map staging = stagingDeployArgs(cfg, null)
    String where = "${result?.env ?: staging.environment}"
    String namespace = staging.namespace ? " (namespace ${staging.namespace})" : ''
    String url = result?.url ? " at ${result.url}" : ''
    return "It is live in ${where}${namespace}${url}."
}

/** `training.params.max_depth=5 training.seed=7` (spaces or new lines) to [values: Map, invalid: List]. */
@NonCPS
Map parseOverrides(String text) {
    Map values = [:]
    List invalid = []
    text.split(/\s+/).findAll { item -> item }.each { item ->
        int equals = item.indexOf('=')
        if (equals < 1) {
            invalid << item
        } else {
            values[item.substring(0, equals)] = item.substring(equals + 1)
        }
    }
    return [values: values, invalid: invalid]
}

/** `deploy.staging`: where and how the version is tried before the production approval. */
@groovy.transform.Field
static final Map STAGING_SPEC = [
    namespace: [type: String],
    environment: [type: String, default: 'staging'],
    strategy: [type: String, default: 'recreate'],
    kubeconfigCredentialsId: [type: String],
]

/** The cause Jenkins gives a build its timer started (`currentBuild.getBuildCauses(...)`). */
@groovy.transform.Field
static final String TIMER_CAUSE = 'hudson.triggers.TimerTrigger$TimerTriggerCause'

/** mlopsMonitor arguments the pipeline decides itself: its own stages are the retraining. */
@groovy.transform.Field
static final List MONITOR_OWNED = ['onRetrain', 'retrainJob']

@groovy.transform.Field
static final List CRON_ALIASES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']

/** Each cron field's [min, max]: minute, hour, day of month, month, day of week (0 and 7: Sunday). */
@groovy.transform.Field
static final List CRON_RANGES = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]]

/** The `deploy` arguments the staging rollout shares with production. */
@groovy.transform.Field
static final List STAGING_SHARES = ['config', 'target', 'timeout', 'set', 'outDir']

@groovy.transform.Field
static final String OVERRIDES_HELP = 'Override mlops.yaml for this build, e.g. ' +
    '"training.params.max_depth=5 training.params.n_estimators=300" (space-separated KEY.PATH=VALUE).'

@groovy.transform.Field
static final String DATA_REV_HELP = 'Train on the data version recorded at this git commit or tag ' +
    '(empty: the checked-out one).'
