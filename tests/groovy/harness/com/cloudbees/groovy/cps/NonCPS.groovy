package com.cloudbees.groovy.cps

import java.lang.annotation.ElementType
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy
import java.lang.annotation.Target

/**
 * Stand-in for Jenkins' `@NonCPS` (groovy-cps): marks a method that Jenkins runs without the CPS
 * transform. The harness runs plain Groovy, so the annotation only has to compile.
 */
@Retention(RetentionPolicy.RUNTIME)
@Target([ElementType.METHOD, ElementType.CONSTRUCTOR])
@interface NonCPS {
}
