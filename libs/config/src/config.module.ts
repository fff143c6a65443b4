import { DynamicModule, Global, Module } from '@nestjs/common';
import { CONFIG, LOGGER, PROCESS_ROLE, ProcessContext } from './process';

/** The process context as injectable values: `@Inject(CONFIG)`, `@Inject(PROCESS_ROLE)`, `@Inject(LOGGER)`. */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(ctx: ProcessContext): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: CONFIG, useValue: ctx.config }, { provide: PROCESS_ROLE, useValue: ctx.role }, { provide: LOGGER, useValue: ctx.logger }],
      exports: [CONFIG, PROCESS_ROLE, LOGGER],
    };
  }
}
