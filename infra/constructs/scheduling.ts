/**
 * Scheduled sends: campaigns with `scheduledAt` become one-time EventBridge Scheduler
 * schedules in this group, which invoke the send function with the role below.
 */
import { type RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';

export interface SchedulingProps {
  /** The function a schedule invokes. */
  sendFunction: lambda.IFunction;
  removalPolicy: RemovalPolicy;
}

export class Scheduling extends Construct {
  readonly group: scheduler.ScheduleGroup;
  /** Assumed by EventBridge Scheduler; may invoke the send function only. */
  readonly schedulerRole: iam.Role;
  private readonly sendFunction: lambda.IFunction;

  constructor(scope: Construct, id: string, props: SchedulingProps) {
    super(scope, id);
    this.sendFunction = props.sendFunction;
    this.group = new scheduler.ScheduleGroup(this, 'Group', { removalPolicy: props.removalPolicy });
    const account = Stack.of(this).account;
    this.schedulerRole = new iam.Role(this, 'SchedulerRole', {
      description: 'Assumed by EventBridge Scheduler to start scheduled campaign sends',
      // Only schedules of this account may use the role (confused-deputy guard).
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': account } },
      }),
    });
    this.schedulerRole.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['lambda:InvokeFunction'],
        resources: [props.sendFunction.functionArn],
      }),
    );
  }

  /** ARN pattern of the schedules in the group (their names are campaign ids, known at run time). */
  get schedulesArn(): string {
    return Stack.of(this).formatArn({
      service: 'scheduler',
      resource: 'schedule',
      resourceName: `${this.group.scheduleGroupName}/*`,
    });
  }

  /**
   * Lets a function create, read and delete schedules in the group (or only `actions` of
   * those) and pass the scheduler role, and sets SCHEDULE_GROUP_NAME, SCHEDULER_ROLE_ARN
   * and SEND_FUNCTION_ARN.
   */
  useScheduling(
    fn: lambda.Function,
    actions: readonly string[] = [
      'scheduler:CreateSchedule',
      'scheduler:DeleteSchedule',
      'scheduler:GetSchedule',
    ],
  ): void {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: [...actions],
        resources: [this.schedulesArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [this.schedulerRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
      }),
    );
    const groupName = this.group.scheduleGroupName;
    if (fn.role && !Token.isUnresolved(groupName)) {
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${groupName}/*]`,
        reason:
          "Schedules are named per campaign at run time; the wildcard covers the schedules of this stage's schedule group only.",
      });
    }
    fn.addEnvironment('SCHEDULE_GROUP_NAME', groupName);
    fn.addEnvironment('SCHEDULER_ROLE_ARN', this.schedulerRole.roleArn);
    fn.addEnvironment('SEND_FUNCTION_ARN', this.sendFunction.functionArn);
  }
}
