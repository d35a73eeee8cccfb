package org.jenkinsci.plugins.workflow.libs

import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

/**
 * Stand-in for Jenkins' `@Library('name@version') _` annotation (pipeline-groovy-lib). The harness
 * always loads the library under test, so the annotation only has to compile.
 */
@Retention(RetentionPolicy.SOURCE)
@interface Library {
    String[] value()
    boolean changelog() default true
}
